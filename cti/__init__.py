"""cti: a telephony-first CTI server for the Asterisk PBX."""

__version__ = "0.1.0"
