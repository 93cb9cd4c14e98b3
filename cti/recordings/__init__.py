"""Recordings: every answered call's audio, linked to its call, checked, kept or let go.

:mod:`.service` owns the ``recordings`` table; :mod:`.linker` follows the bus, :mod:`.scanner`
the folder, :mod:`.hygiene` the age of files (transcoding, retention)."""
