"""Options shared by several sub-commands, and loading the base network from them."""

from __future__ import annotations

import argparse


def add_base_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base", metavar="TXT",
                        help="base network topology .txt (its .data beside it); default: the "
                             "packaged EfficientNet-Lite0, converted into the user cache")
    parser.add_argument("--device", metavar="SPEC",
                        help="OpenCL device: 'P:D' indices or part of its name "
                             "(default: $NEURALPATCH_DEVICE, else the first GPU, else CPU)")


def load_base(args: argparse.Namespace):
    """The base network the options name, with conversion progress on stderr."""
    from neuralpatch.commands.progress import ProgressLine
    from neuralpatch.engine.base_network import BaseNetwork

    with ProgressLine("converting base network weights") as bar:
        return BaseNetwork.load(args.base, device=args.device, progress=bar.update)
