"""Decisions from a study's records: what the hypotheses' contrasts say, and how sure.

Pure numbers in, plain dicts out (no records, no files): ``settings`` (the ``analysis:``
block), ``estimate`` (stratified paired contrasts with a t-interval), ``bootstrap`` (a
stratified cluster bootstrap), ``equivalence`` (TOST), ``verdict`` (the rule), ``seeds``
(how many seeds an answer needs) and ``decide`` (all of it for one hypothesis).
"""
