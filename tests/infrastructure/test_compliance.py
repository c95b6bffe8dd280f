"""cdk-nag AwsSolutions (no unacknowledged finding, every acknowledgment specific and reasoned) and
cfn-lint (no errors) on every synthesized template."""

from __future__ import annotations

from cfnlint.api import lint_file

from tests.infrastructure.conftest import Synth


def test_both_stacks_synthesize(synth: Synth) -> None:
    assert set(synth.templates) == {"AvatarStorage", "AvatarService"}


def test_no_unacknowledged_cdk_nag_findings(synth: Synth) -> None:
    assert synth.validation_error is None, synth.validation_error
    assert synth.report.get("pluginReports") == []


def test_every_acknowledgment_names_a_specific_finding_with_a_reason(synth: Synth) -> None:
    acknowledgments = synth.acknowledgments()
    assert acknowledgments, "expected the documented acknowledgments"
    for path, rules in acknowledgments.items():
        for rule, reason in rules.items():
            rule_id = rule.removeprefix("Annotation::")
            assert rule_id.startswith("AwsSolutions-"), (path, rule)
            if rule_id.startswith("AwsSolutions-IAM"):
                assert "[" in rule_id, f"{path}: {rule_id} must name the finding (Action/Resource/Policy)"
            assert len(reason) >= 30, (path, rule, reason)


def test_cfn_lint_reports_no_errors(synth: Synth) -> None:
    templates = sorted(synth.outdir.glob("*.template.json"))
    assert len(templates) == 2
    for template in templates:
        matches = lint_file(template)
        errors = [f"{m.rule.id} {m.message} ({m.path})" for m in matches if m.rule.severity == "error"]
        assert not errors, f"{template.name}:\n" + "\n".join(errors)


def test_no_asset_was_bundled_in_tests(synth: Synth) -> None:
    # Bundling is skipped: the session's synth must not depend on pip, Docker or the network.
    assert not list(synth.outdir.glob("bundling-temp-*"))
