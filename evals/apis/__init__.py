"""Pure request builders and response parsers, one module per API or model family.

Nothing here touches the network or a clock: transport.py owns sending and timing, so every builder and
parser can be checked against golden files.
"""
