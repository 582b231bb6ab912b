"""Training of the embedded default models: demonstrations in the simulator, DAgger, trainers (an application
room like the CLI: it may import the core and the adapters - sim for demonstrations, eval for datasets - and
nothing imports it but the command line)."""
