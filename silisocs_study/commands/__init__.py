"""The verbs as plain functions with typed arguments (one module per verb or family).

:mod:`silisocs_study.cli` is the only module that reads flags: it turns them into
:class:`~silisocs_study.plan.Filters`, :class:`~silisocs_study.options.LaunchOptions` and the
arguments here, then calls one of these functions and exits with what it returns.
"""
