"""Pieces shared by several gradient-family methods (and their layer / neuron forms):
backward rules (modified ReLU, DeepLift, LRP). Method files import these, never each other."""
