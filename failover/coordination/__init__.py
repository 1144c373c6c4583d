"""ZooKeeper coordination via kazoo: election, fencing epoch, observations, journal, requests."""
