"""Sub-commands of `neuralpatch`; each module has `add_parser(subparsers)`."""
