"""What the tests and the benchmarks both drive, and nothing the product ships: ZooKeeper
ensembles on free ports, the emulator served over HTTP, controller replicas as processes, and
the reliability trials. Benchmarks import the product and this package, never `tests`."""
