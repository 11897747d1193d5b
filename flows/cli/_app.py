"""The Typer application every `mm` sub-command module registers on."""

import typer

app = typer.Typer(
    name="mm",
    help="mmpipe: ingest, build, train and evaluate multimodal WebDataset corpora.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
