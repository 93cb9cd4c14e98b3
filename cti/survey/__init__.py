"""Post-call satisfaction survey: callers answer 1-5 by keypad in the Stasis app ``cti``.

``settings`` (``survey.*``), ``store`` (tables of migration 13), ``flow`` (one caller's survey
over ARI), ``app`` (one PBX: the ARI link, eligibility, one task per caller), ``service`` (what
the daemon starts), ``prompts`` (the WAV generator: ``python -m cti.survey.prompts``).
"""
