"""Slurm for real: ``submitit`` and ``slurm-array`` submissions, array tasks, hooks,
reconciling records with Slurm accounting (``status``), and the rounds of an adaptive
study, each submitted by the finalize job of the round before (:mod:`.chain`).

Layout of one submission (both verbs)::

    <generated>/slurm/submissions.jsonl        one line per submission (job ids → run ids)
    <generated>/slurm/<submission id>/
        plan.json        the runs still to do, written once (write_plan_json)
        tasks.json       task index → run ids (+ byte ranges of their plan.json rows);
                         an adaptive study's round: its number, round file, chain and
                         the options its finalize job submits the next round with
        env.sh           export K=<shlex-quoted> lines the array template sources
        sbatch.sh        the exact sbatch command(s) (printed without --submit)
        logs/            Slurm stdout/stderr of each task
        tasks/<i>.json   a task's own plan slice (written by the task itself)
        tasks/<i>.argv   a one-run task's app command, NUL-separated (run directly)
"""
