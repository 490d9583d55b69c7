"""The template as CloudFormation receives it: read with cfn-lint's YAML loader (it knows the
short-form tags) and expanded by the SAM transform that cfn-lint 1.53.3 bundles (samtranslator),
the same translation `sam deploy` asks CloudFormation for.

Run as a script, it prints the translated template as JSON:

    .venv/bin/python scripts/template/translate.py [template.yaml] [--region us-east-1]
"""

import argparse
import copy
import json
import sys

from cfnlint.decode import decode
from cfnlint.template.transforms._sam import Transform


def load(path):
    """The template at `path` as a dict (intrinsics as {"Fn::…": …} / {"Ref": …})."""
    template, problems = decode(path)
    if problems:
        raise ValueError(f"cannot read {path}: {problems}")
    return template


def translate(template, region="us-east-1", filename="template.yaml"):
    """`template` after the SAM transform (a new dict; `template` is left as it was). cfn-lint
    substitutes parameter defaults where SAM needs a literal, as `sam validate` does."""
    transform = Transform(filename, copy.deepcopy(template), region)
    problems = transform.transform_template()
    if problems:
        raise ValueError("the SAM transform failed: " + "; ".join(str(p) for p in problems))
    return json.loads(json.dumps(transform.template(), default=str))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("template", nargs="?", default="template.yaml")
    parser.add_argument("--region", default="us-east-1")
    args = parser.parse_args()
    json.dump(translate(load(args.template), args.region, args.template), sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
