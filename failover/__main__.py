"""`python -m failover`: the same entry point as the `failover` console script."""

from failover.cli import main

if __name__ == "__main__":
    main()
