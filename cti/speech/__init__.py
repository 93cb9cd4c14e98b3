"""Speech: offline speech-to-text of call recordings and the quality checks run on transcripts.

* :mod:`.transcriber` (pure): words with timings, transcripts, the ``Transcriber`` seam.
* :mod:`.engines`: builds an engine by name (``pocketsphinx``, ``vosk``) in the process that
  runs it; :mod:`.sphinx_engine` and :mod:`.vosk_engine` are the only importers of their
  libraries, so an engine can be swapped in one file.
* :mod:`.worker`: the queue and the process pool that transcribe recordings off the event loop.
* :mod:`.scoring` and its helpers (pure): scorecards checked against transcripts.

Nothing is imported here: importing the package must not load a speech library.
"""
