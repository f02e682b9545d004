"""``tiledproc run [PIPELINE.toml]``: run a pipeline file (or the embedded default)."""

from __future__ import annotations

import click

from ..execute.jobqueue import check_submit_command, job_script, log_shell_lines
from ..errors import ConfigError
from ..pipeline.config import load_pipeline
from . import cli, options


@cli.command()
@click.argument("pipeline", required=False, type=click.Path())
@click.option("--dry-run", is_flag=True, help="Validate and print the plan; compute nothing.")
@click.option("--job-script", "job_script_", is_flag=True,
              help="Print the batch script of the [cluster] section, as it would be submitted, and stop "
                   "(the lines that come from shell keys are listed on stderr).")
@options.run_options
@options.allow_shell
@options.allow_remote_scheduler
def run(pipeline, dry_run, job_script_, **kw):
    """Run PIPELINE (a TOML file), or the embedded default when none is given.

    The default makes a synthetic 4 x 2048 x 2048 scene in ./tiledproc-demo
    and writes its 15 x 15 windowed mean and variance next to it.
    """
    from ..pipeline.run import RunOptions, default_pipeline, resolve, run_pipeline, summary_text

    p = load_pipeline(pipeline) if pipeline else default_pipeline()
    if job_script_:
        if not p.cluster:
            raise ConfigError(f"{p.source}: there is no [cluster] section to make a job script from.")
        # printed unchanged, runs nothing: see tiledproc.execute.jobqueue ("Shell code")
        log_shell_lines(p.cluster, "of the pipeline file puts these lines into the script "
                                   "(a run needs --allow-shell)")
        click.echo(job_script(p.cluster))
        return
    opts = RunOptions(**kw)
    if not dry_run:
        spec, _ = resolve(p, opts)
        if spec.kind == "jobqueue":  # before any output is created; a dry run submits nothing
            check_submit_command(spec.cluster)
    result = run_pipeline(p, opts, dry_run=dry_run, echo=click.echo)
    if not dry_run:
        click.echo(summary_text(result))
