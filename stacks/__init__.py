"""The CDK app's constructs (one per capability) and the thin stacks that compose them."""
