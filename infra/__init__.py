"""Per-region CloudFormation for the stack, synthesized from chalicelib.resources and the Chalice app."""
