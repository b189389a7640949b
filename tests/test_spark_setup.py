"""What engine: spark needs is found without importing pyspark or starting a JVM."""

from pathlib import Path

import pytest

from crmreport import spark_setup
from crmreport.errors import ConfigError


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """The modules this test's machine has, whatever the real one has."""
    modules = {"pyspark"}
    monkeypatch.setattr(spark_setup, "_importable", lambda name: name in modules)
    return modules


# What `java -version` prints to stderr, by Java release (Debian's OpenJDK builds, Oracle's 8).
BANNERS = {
    8: 'java version "1.8.0_392"\nJava(TM) SE Runtime Environment (build 1.8.0_392-b08)\n',
    11: 'openjdk version "11.0.25" 2024-10-15\nOpenJDK Runtime Environment (build '
        '11.0.25+9-post-Debian-1deb11u1)\n',
    17: 'openjdk version "17.0.15" 2025-04-15\nOpenJDK Runtime Environment (build '
        '17.0.15+6-Debian-1deb12u1)\n',
    21: 'openjdk version "21" 2023-09-19\nOpenJDK Runtime Environment (build 21+35)\n',
}


def write_java(home: Path, banner: str) -> Path:
    """A java under ``home``/bin that prints ``banner`` as ``java -version`` does."""
    java = home / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text(f"#!/bin/sh\ncat >&2 <<'END'\n{banner}END\n")
    java.chmod(0o755)
    return java


@pytest.fixture
def java_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    java = write_java(tmp_path / "jdk", BANNERS[17])
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "jdk"))
    return java


def test_nothing_is_missing_with_pyspark_and_java(installed: set[str], java_home: Path) -> None:
    assert spark_setup.missing("local[2]") == []
    spark_setup.require_spark("local[2]")  # no error
    assert spark_setup.java() == str(java_home)


def test_without_pyspark_the_error_names_the_extra(installed: set[str]) -> None:
    installed.discard("pyspark")
    with pytest.raises(ConfigError) as raised:
        spark_setup.require_spark("local[2]")
    message = str(raised.value)
    assert "engine: spark needs pyspark, which is not installed" in message
    assert "pip install 'crmreport[spark]'" in message


def test_a_java_home_without_java_is_missing(installed: set[str], tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))  # no bin/java in it
    with pytest.raises(ConfigError, match=r"Java, which is missing \(JAVA_HOME/bin/java not"):
        spark_setup.require_spark("spark://cluster:7077")


def test_without_java_on_the_path_the_error_says_how_to_install_it(
        installed: set[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ConfigError) as raised:
        spark_setup.require_spark("local[2]")
    assert "java on the PATH not found" in str(raised.value)
    assert "default-jre-headless" in str(raised.value)


@pytest.mark.parametrize("major", sorted(BANNERS))
def test_java_version_is_read_from_its_banner(major: int) -> None:
    assert spark_setup.java_major(BANNERS[major]) == major


def test_a_banner_without_a_version_has_none() -> None:
    assert spark_setup.java_major("Error: could not find libjava.so\n") is None


@pytest.mark.parametrize("major", [8, 11])
def test_java_older_than_17_is_refused_saying_how_to_install_17(
        installed: set[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        major: int) -> None:
    java = write_java(tmp_path / "old", BANNERS[major])
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "old"))
    [(what, fix)] = spark_setup.missing("local[2]")
    assert what == f"spark needs Java 17 or later, and {java} is Java {major}"
    assert "apt-get install openjdk-17-jre-headless" in fix


def test_java_21_is_enough(installed: set[str], tmp_path: Path,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    write_java(tmp_path / "new", BANNERS[21])
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "new"))
    assert spark_setup.missing("local[2]") == []


@pytest.fixture
def connect_client(installed: set[str], monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """pyspark 4 with its Spark Connect client's modules."""
    installed.update(spark_setup.CONNECT_MODULES)
    monkeypatch.setattr(spark_setup, "pyspark_version", lambda: "4.0.5")
    return installed


def test_spark_connect_needs_no_java_on_this_machine(connect_client: set[str], tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no java
    assert spark_setup.missing("sc://spark.example:15002") == []
    assert spark_setup.missing("local[2]")  # a Spark of its own needs Java


def test_spark_connect_with_pyspark_3_says_to_install_pyspark_4(
        connect_client: set[str], java_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spark_setup, "pyspark_version", lambda: "3.5.1")
    with pytest.raises(ConfigError) as raised:
        spark_setup.require_spark("sc://spark.example:15002")
    message = str(raised.value)
    assert "needs pyspark 4, and pyspark 3.5.1 is installed" in message
    assert "pip install 'crmreport[spark]'" in message
    assert "pip install 'pyspark[connect]==X.Y.Z' for a server of Spark X.Y.Z" in message
    assert spark_setup.missing("local[2]") == []  # 3.5 still runs a Spark of its own


def test_spark_connect_without_its_client_names_the_missing_packages(
        connect_client: set[str]) -> None:
    connect_client.discard("grpc_status")
    connect_client.discard("google.rpc")
    [(what, fix)] = spark_setup.missing("sc://spark.example:15002")
    assert what.endswith("(googleapis-common-protos, grpcio-status not installed)")
    assert "pyspark[connect]" in fix


def test_the_installed_pyspark_version_is_read_without_importing_it() -> None:
    """In a fresh interpreter: in this one an earlier test may have imported pyspark."""
    import subprocess
    import sys

    probe = ("import sys; from crmreport import spark_setup; "
             "print(spark_setup.pyspark_version(), 'pyspark' in sys.modules)")
    shown = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                           check=True).stdout.split()
    assert shown[1] == "False"
    pyspark = pytest.importorskip("pyspark")
    assert shown[0] == pyspark.__version__  # what the package says of itself


def test_a_dotted_module_under_an_absent_package_is_not_importable() -> None:
    assert not spark_setup._importable("no_such_package_here.rpc")
