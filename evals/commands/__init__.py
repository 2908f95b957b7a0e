"""The command-line front ends: argument parsing and I/O only."""
