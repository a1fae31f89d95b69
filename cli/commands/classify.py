"""`neuralpatch classify IMAGE...`: the base network's top-k classes for each photo."""

from __future__ import annotations

import argparse
import json
import sys

from neuralpatch.commands.options import add_base_options, load_base

BATCH = 16


def add_parser(sub) -> None:
    p = sub.add_parser("classify", help="classify photos with the base network",
                       description="Print the base network's top classes for each image.")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--top", type=int, default=5, metavar="K", help="classes to show (5)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object: {base, images: [{path, top: [{index, tag, "
                        "name, probability}]}], errors: [{path, error}]}")
    add_base_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from neuralpatch.engine.errors import ImageError
    from neuralpatch.engine.image_io import decode_image

    base = load_base(args)
    results, errors = [], []
    decoded = []
    for path in args.images:
        try:
            decoded.append((path, decode_image(path)))
        except ImageError as exc:
            errors.append({"path": path, "error": str(exc)})
            print(f"neuralpatch: error: {exc}", file=sys.stderr)
    for start in range(0, len(decoded), BATCH):
        chunk = decoded[start:start + BATCH]
        out = base.run([rgb for _, rgb in chunk])
        for (path, _), probs in zip(chunk, out.probabilities, strict=True):
            top = base.top_k(probs, max(1, args.top))
            results.append({"path": path, "top": [p.__dict__ for p in top]})
    if args.json:
        print(json.dumps({"base": {"name": base.topology.name, "fingerprint": base.fingerprint},
                          "images": results, "errors": errors}, indent=2))
    else:
        for item in results:
            print(item["path"])
            for rank, p in enumerate(item["top"], start=1):
                print(f"  {rank}. {p['name']:<28} {p['tag']}  {p['probability']:7.2%}")
    return 2 if errors else 0
