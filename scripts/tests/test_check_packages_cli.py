"""scripts/check_packages.py end to end on temporary clones: it passes, and it can fail."""

from __future__ import annotations


def test_a_package_and_its_sibling_install_from_wheels(clone, run_script, tmp_path) -> None:
    result = run_script("check_packages.py", "nn", "--root", str(clone),
                        "--work-dir", str(tmp_path / "work"), cwd=clone)  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert "every sibling requirement is bounded" in result.stdout
    row = next(line for line in result.stdout.splitlines() if line.startswith("nn "))
    assert "autograd" in row  # the sibling wheel it was installed with
    assert row.rstrip().endswith("ok")
    assert "nn: wheel and sdist carry the root LICENSE" in result.stdout
    extra = next(line for line in result.stdout.splitlines() if line.startswith("nn[plot] "))
    assert "autograd" in extra and extra.rstrip().endswith("ok")  # each extra on its own
    assert "check_packages: 1 package(s) OK" in result.stdout
    assert not (tmp_path / "work").exists()  # removed without --keep


def test_a_wheel_missing_a_source_file_fails_with_one_line(clone, git, run_script, tmp_path):
    pyproject = clone / "packages/autograd/pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace(
            'packages = ["src/autograd"]',
            'packages = ["src/autograd"]\nexclude = ["src/autograd/__init__.py"]',
        )
    )
    git(clone, "commit", "--quiet", "-am", "break the autograd wheel on purpose")
    result = run_script("check_packages.py", "autograd", "--root", str(clone),
                        "--work-dir", str(tmp_path / "work"), cwd=clone)  # fmt: skip
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "autograd: the wheel autograd-" in lines[0]
    assert "lacks 1 source file(s): autograd/__init__.py" in lines[0]
    assert "FAILED" in result.stdout  # the summary table shows it too


def test_an_unknown_package_is_refused_with_one_line(clone, run_script, tmp_path) -> None:
    result = run_script("check_packages.py", "torch", "--root", str(clone),
                        "--work-dir", str(tmp_path / "work"), cwd=clone)  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "check_packages: no workspace package named 'torch'; the packages are: "
        + ", ".join(sorted(p.name for p in (clone / "packages").iterdir()))
    )


def test_a_wheelhouse_that_is_not_a_folder_is_a_usage_error(clone, run_script, tmp_path) -> None:
    result = run_script("check_packages.py", "nn", "--root", str(clone),
                        "--wheelhouse", str(tmp_path / "absent"), cwd=clone)  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert f"--wheelhouse {tmp_path / 'absent'} is not a folder" in result.stderr
