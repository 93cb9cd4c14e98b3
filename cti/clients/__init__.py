"""Clients: the directory of people and companies (cards, phone lookup, merge, history) and the
linker that attaches them to calls as the phone rings."""
