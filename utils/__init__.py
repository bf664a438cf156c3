"""Helpers shared by the scripts: config files, torchrun set-up, checkpoints, command lines."""
