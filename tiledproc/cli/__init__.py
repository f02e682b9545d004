"""The ``tiledproc`` command.

A click group, one module per command. Every user mistake (a
:class:`~tiledproc.errors.TiledprocError` or a usage error) becomes one line
on stderr and exit status 2; an interrupted run exits with 130 and can be
resumed with ``--resume``.
"""

from __future__ import annotations

import logging
import sys
import warnings

import click

from .._version import __version__
from ..errors import TiledprocError, TiledprocWarning


class _Formatter(logging.Formatter):
    def format(self, record):
        t = self.formatTime(record, "%H:%M:%S")
        return f"{t} tiledproc: {record.getMessage()}"


def _setup_logging(verbosity: int) -> None:
    level = {-2: logging.ERROR, -1: logging.WARNING, 0: logging.INFO}.get(verbosity, logging.DEBUG)
    if verbosity < -2:
        level = logging.CRITICAL
    logger = logging.getLogger("tiledproc")
    logger.setLevel(level)
    logger.propagate = False
    for h in list(logger.handlers):
        logger.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter())
    logger.addHandler(handler)
    # other libraries' warnings and log records are details: shown with -v
    warnings.showwarning = _show_warning
    for name in THIRD_PARTY_LOGGERS:
        other = logging.getLogger(name)
        for h in list(other.handlers):
            if isinstance(h, _ToDebug):
                other.removeHandler(h)
        other.addHandler(_ToDebug())
        other.propagate = False


THIRD_PARTY_LOGGERS = ("tifffile", "numcodecs", "zarr", "py.warnings")


class _ToDebug(logging.Handler):
    """Passes another library's log records on as tiledproc debug lines (``-v``)."""

    def emit(self, record):
        log = logging.getLogger("tiledproc")
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s: %s", record.name, record.getMessage())


def _show_warning(message, category, filename, lineno, file=None, line=None):
    log = logging.getLogger("tiledproc")
    if issubclass(category, TiledprocWarning):
        log.warning("%s", message)
    else:
        log.debug("%s: %s (%s:%d)", category.__name__, message, filename, lineno)


class UserError(click.ClickException):
    """A mistake of the user's: one line on stderr, exit status 2."""

    exit_code = 2

    def show(self, file=None):
        click.echo(f"tiledproc: error: {self.format_message()}", err=True)


class Interrupted(click.ClickException):
    exit_code = 130

    def show(self, file=None):
        click.echo("tiledproc: interrupted; run the same command with --resume to finish the outputs", err=True)


class _Group(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except TiledprocError as e:
            raise UserError(str(e)) from e
        except OSError as e:  # the environment: a file system, a permission, a network
            where = f": {e.filename}" if getattr(e, "filename", None) else ""
            raise UserError(f"{e.strerror or e}{where}") from e
        except KeyboardInterrupt as e:
            raise Interrupted("interrupted") from e


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More messages (repeat for more).")
@click.option("-q", "--quiet", count=True, help="Fewer messages (repeat for fewer).")
@click.version_option(__version__, prog_name="tiledproc")
@click.pass_context
def cli(ctx, verbose, quiet):
    """Process rasters too large for memory, chunk by chunk, from Zarr.

    Results match scipy, numpy and scikit-image on the whole array in memory.
    """
    ctx.ensure_object(dict)
    ctx.obj["verbosity"] = verbose - quiet
    _setup_logging(verbose - quiet)


def main(argv=None) -> None:
    """Console entry point: user mistakes -> one line on stderr, exit 2."""
    try:
        code = cli.main(args=argv, prog_name="tiledproc", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("tiledproc: interrupted", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        Interrupted("interrupted").show()
        sys.exit(130)
    except click.exceptions.NoArgsIsHelpError as e:  # plain `tiledproc`: the help
        click.echo(e.ctx.get_help())
        sys.exit(0)
    except click.exceptions.UsageError as e:
        # click prints usage, a hint and the message on four lines; a user's mistake
        # gets one line, naming the command whose --help explains it
        where = e.ctx.command_path if e.ctx is not None else "tiledproc"
        message = " ".join(e.format_message().split())
        click.echo(f"tiledproc: error: {message} (see '{where} --help')", err=True)
        sys.exit(2)
    except click.exceptions.ClickException as e:
        e.show()
        sys.exit(2 if e.exit_code in (1, 2) else e.exit_code)
    except TiledprocError as e:  # raised outside a command (should not happen)
        UserError(str(e)).show()
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)


from . import export, info, ingest, ops, preview, run, synth, verify, warmup  # noqa: E402,F401  (register the commands)
