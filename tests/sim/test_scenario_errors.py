"""Bad scenario files and overrides fail with one clear message naming the place."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from node.app.cli import cli
from sim import ScenarioError, load_scenario
from sim.cli import sim as sim_group
from sim.scenario_file import parse_override

GOOD = """
[scenario]
duration_s = 100
[[agents]]
behaviour = "honest"
count = 4
"""


VOTE = """
[scenario]
duration_s = 400
[[agents]]
behaviour = "honest"
count = 4
[[agents]]
behaviour = "equivocator"
count = 1
[vote]
members = ["honest", "equivocator"]
"""


def _write(tmp_path: Path, text: str) -> str:
    p = tmp_path / "s.toml"
    p.write_text(text)
    return str(p)


@pytest.mark.parametrize("text, needle", [
    (GOOD + "[netwrok]\nloss = 0.1\n", "unknown table [netwrok] (did you mean 'network'?)"),
    (GOOD + "[network]\nlos = 0.1\n", "[network] has no field 'los' (did you mean 'loss'?)"),
    (GOOD + "[network]\nloss = 'high'\n", "network.loss: expected a number, got 'high'"),
    (GOOD + "[network]\nloss = 1.5\n", "network.loss: 1.5 is out of range [0, 1]"),
    (GOOD + "[network]\nconnections = 2.5\n", "network.connections: expected an integer"),
    (GOOD + "[dissemination]\nmodel = 'flood'\n", "'flood' is not one of gossipsub"),
    (GOOD + "[core]\nsync = 1\n", "core.sync: expected true or false"),
    ("[scenario]\nduration_s = 100\n", "needs at least one [[agents]] group"),
    (GOOD + "[[agents]]\nbehaviour = 'lier'\ncount = 1\n",
     "behaviour 'lier' is not one of"),
    (GOOD + "[[agents]]\nbehaviour = 'liar'\ncount = 1\nfork_every_s = 3\n",
     "[agents] has no field 'fork_every_s'"),
    (GOOD + "[[agents]]\nbehaviour = 'liar'\n", "[agents] needs 'count'"),
    (GOOD + "[[agents]]\nbehaviour = 'honest'\ncount = 1\n", "two [[agents]] groups are named"),
    (GOOD + "[[faults.partitions]]\nat_s = 50\nheal_s = 40\n", "heal_s (40) must come after"),
    (GOOD + "[[faults.crashes]]\nat_s = 5\nnode = 4\n", "node = 4 but there are only 4 nodes"),
    (GOOD + "[faults.meteor]\nsize = 1\n", "[faults] has no part 'meteor'"),
    (GOOD + "[workload]\nstop_s = 500\n", "workload.stop_s (500) is after the end"),
    (GOOD + "[workload]\nfulfil_min_frac = 0.9\nfulfil_max_frac = 0.1\n", "fulfil_min_frac"),
    ("[scenario\n", "not valid TOML"),
    (GOOD + "[vote]\n", "[vote] needs 'members'"),
    (GOOD + "[vote]\nmembers = 'honest'\n", "vote.members: expected a list of strings"),
    (GOOD + "[vote]\nmembers = ['honets']\n",
     "vote.members: no [[agents]] group named 'honets' (did you mean 'honest'?)"),
    (GOOD + "[vote]\nmembers = ['honest']\nclosers_after_s = 5\n",
     "[vote] has no field 'closers_after_s' (did you mean 'closes_after_s'?)"),
    (GOOD + "[vote]\nmembers = ['honest']\nmethod = 'borda'\n", "'borda' is not one of single"),
    (GOOD + "[vote]\nmembers = ['honest']\nyes_prob = 1.5\n",
     "vote.yes_prob: 1.5 is out of range [0, 1]"),
    (GOOD + "[vote]\nmembers = ['honest']\nproposals = 0\n", "vote.proposals: 0 is out of range"),
    (GOOD + "[vote]\nmembers = ['honest']\noptions = ['yes']\n", "vote.options: needs 2..64"),
    (GOOD + "[vote]\nmembers = ['honest']\noptions = ['a', 'a']\n", "names one thing twice"),
    (GOOD + "[vote]\nmembers = ['honest']\nstuffers = ['honest']\n",
     "group 'honest' is a member; stuffers are non-members"),
    (GOOD + "[[agents]]\nbehaviour = 'liar'\ncount = 2\n[vote]\nmembers = ['liar']\n",
     "vote.members: needs an honest group"),
    (GOOD + "[vote]\nmembers = ['honest']\npropose_at_s = 1\n",
     "vote.propose_at_s (1) must come after vote.charter_at_s (1)"),
    (GOOD + "[vote]\nmembers = ['honest']\nvote_window_s = 200\n",
     "vote.vote_window_s (200) must be shorter than vote.closes_after_s (120)"),
    (GOOD + "[vote]\nmembers = ['honest']\n", "is after the end of the run (scenario.duration_s"),
    (VOTE + "equivocate_at_s = 200\n", "vote.equivocate_at_s (200) is outside the voting window"),
    (VOTE + "equivocate_at_s = 50\n[[faults.partitions]]\nat_s = 40\nheal_s = 60\n",
     "vote.equivocate_at_s (50) may fall in faults.partitions[0]"),
    (GOOD + "[[agents]]\nbehaviour = ['honest']\ncount = 1\n",
     "agents[1]: behaviour must be a string naming one of badmouther, "),
    (GOOD + "[[agents]]\nbehaviour = {a = 1}\ncount = 1\n",
     "agents[1]: behaviour must be a string naming one of"),
    (GOOD + "[[agents]]\nbehaviour = 3\ncount = 1\n", "behaviour must be a string"),
    (GOOD + "[[agents]]\ncount = 1\nname = 'x'\nkeep_prob = 0.5\n",
     "agents[1]: [agents] needs 'behaviour' (one of badmouther, "),
    (GOOD + "[[agents]]\ncount = 1\nname = 'x'\n", "agents[1]: [agents] needs 'behaviour'"),
    (GOOD + "[[agents]]\nbehavior = 'liar'\ncount = 1\n",
     "[agents] has no field 'behavior' (did you mean 'behaviour'?)"),
    (GOOD + "[network]\nloss = 1" + "0" * 400 + "\n", "network.loss: 1000"),
    (GOOD + "[network]\nloss = -1" + "0" * 400 + "\n", "is out of range [0, 1]"),
    (GOOD + "[network]\nloss = nan\n", "network.loss: expected a number, got nan"),
    (GOOD + "[network]\nloss = -inf\n", "network.loss: expected a number, got -inf"),
    (GOOD + "[network]\nloss = 'nan'\n", "network.loss: expected a number, got 'nan'"),
    (GOOD + "[network]\nloss = true\n", "network.loss: expected a number, got True"),
    (GOOD + "[network]\nconnections = false\n", "network.connections: expected an integer"),
    (GOOD + "[network]\nloss = [0.1]\n", "network.loss: expected a number, got [0.1]"),
    (GOOD + "[network]\nloss = 1979-05-27\n", "network.loss: expected a number"),
    (GOOD + "[dissemination]\nmodel = ['push']\n", "dissemination.model: expected a string"),
    (GOOD + "[dissemination]\nmodel = ''\n", "'' is not one of gossipsub"),
    (GOOD + "[[agents]]\nbehaviour = 'liar'\ncount = 1\nkeep_prob = {p = 1}\n",
     "agents.keep_prob: expected a number"),
    (GOOD + "[[faults.crashes]]\nat_s = 5\nnode = 1" + "0" * 40 + "\n",
     "faults.crashes.node: 1000"),
    (GOOD + "[faults]\npartitions = [1]\n", "[faults.partitions] must be a table, got int"),
    (GOOD + "[faults]\nclock = 'fast'\n", "[faults.clock] must be a table, got str"),
    (GOOD + "[vote]\nmembers = [['honest']]\n", "vote.members: expected a list of strings"),
    (GOOD + "[network]\nloss = " + "[" * 3000 + "]" * 3000 + "\n", "nested too deeply"),
    (GOOD + "[network]\nloss = 1" + "0" * 5000 + "\n", "a value troth cannot read"),
])
def test_bad_files_name_the_problem(tmp_path: Path, text: str, needle: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ScenarioError) as exc:
        load_scenario(path)
    assert needle in str(exc.value)
    assert str(exc.value).startswith(path)


def test_good_file_loads(tmp_path: Path) -> None:
    sc = load_scenario(_write(tmp_path, GOOD))
    assert sc.nodes == 4 and sc.name == "s" and sc.network.loss == 0.0
    assert sc.vote is None


def test_vote_section_loads_and_overrides(tmp_path: Path) -> None:
    sc = load_scenario(_write(tmp_path, VOTE))
    assert sc.vote is not None and sc.vote.members == ("honest", "equivocator")
    assert sc.vote.options == ("yes", "no") and sc.vote.method == "single"
    sc = load_scenario(_write(tmp_path, VOTE), [parse_override("vote.method=ranked"),
                                                parse_override("vote.options=['a','b','c']")])
    assert sc.vote is not None and sc.vote.method == "ranked" and len(sc.vote.options) == 3


def test_unknown_scenario_name_lists_the_shipped_ones() -> None:
    with pytest.raises(ScenarioError, match="no scenario named 'baseline2'.*did you mean"):
        load_scenario("baseline2")


def test_missing_file() -> None:
    with pytest.raises(ScenarioError, match="no such scenario file"):
        load_scenario("/nonexistent/x.toml")


def test_overrides_are_validated_like_the_file() -> None:
    with pytest.raises(ScenarioError, match="network.loss: 2.0 is out of range"):
        load_scenario("baseline", [parse_override("network.loss=2.0")])
    with pytest.raises(ScenarioError, match="no element '9'"):
        load_scenario("baseline", [parse_override("agents.9.count=3")])
    with pytest.raises(ScenarioError, match="expected table.field=value"):
        parse_override("network.loss")
    sc = load_scenario("baseline", [parse_override("network.loss=0.2"),
                                    parse_override("agents.0.count=5")])
    assert sc.network.loss == 0.2 and sc.nodes == 5


def test_cli_reports_a_bad_file_with_status_2(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD + "[network]\nlos = 0.1\n")
    cli.add_command(sim_group, "sim")
    res = CliRunner().invoke(cli, ["sim", "run", path, "--no-plots"])
    assert res.exit_code == 2
    assert "did you mean 'loss'" in res.output
    assert isinstance(res.exception, SystemExit)  # (an uncaught error would be here instead)


def test_not_utf8_is_a_scenario_error(tmp_path: Path) -> None:
    p = tmp_path / "s.toml"
    p.write_bytes(b"\xff\xfe[scenario]\n")
    with pytest.raises(ScenarioError, match=r"s\.toml: not UTF-8 text \(byte 0"):
        load_scenario(str(p))
    p.write_bytes(GOOD.replace("honest", "h\u00f6nest").encode("latin-1"))
    with pytest.raises(ScenarioError, match="not UTF-8 text"):
        load_scenario(str(p))


def test_a_directory_is_not_a_scenario_file(tmp_path: Path) -> None:
    for d in (tmp_path, tmp_path / "dir.toml"):
        d.mkdir(exist_ok=True)
        with pytest.raises(ScenarioError, match="is a directory, not a scenario file"):
            load_scenario(str(d))


def test_unreadable_file_is_a_scenario_error(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path, GOOD)

    def denied(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", denied)  # root may read a chmod 0 file
    with pytest.raises(ScenarioError, match="cannot read the scenario file: Permission denied"):
        load_scenario(path)
    monkeypatch.undo()
    with pytest.raises(ScenarioError, match="File name too long"):
        load_scenario(str(tmp_path / ("x" * 5000)) + ".toml")


@pytest.mark.parametrize("override, needle", [
    ("agents.0.behaviour=[1]", "agents[0]: behaviour must be a string naming one of"),
    ("agents.0.behaviour={a=1}", "agents[0]: behaviour must be a string naming one of"),
    ("agents.0.behaviour=", "behaviour '' is not one of"),
    ("agents.9.count=1", "no element '9' in agents (it has 1)"),
    ("agents.\u00b2.count=1", "no element '\u00b2' in agents"),
    ("agents.-1.count=1", "no element '-1' in agents"),
    ("agents.0.count.x=1", "agents.0.count is not a table"),
    ("network.loss.x.y=1", "network.loss is not a table"),
    ("network.loss=nan", "network.loss: expected a number, got nan"),
    ("network.loss=1e999", "network.loss: expected a number, got inf"),
    ("network.loss=1" + "0" * 400, "is out of range [0, 1]"),
    # Past Python's int/str digit limit (4300), where tomllib raises a bare ValueError.
    ("network.loss=1" + "0" * 5000, "not a value troth can read"),
    ("agents." + "1" * 5000 + ".count=1", "no element"),
    ("network.loss=true", "network.loss: expected a number, got True"),
    ("network.connections=1.0", "network.connections: expected an integer, got 1.0"),
    ("network.loss=" + "[" * 3000 + "]" * 3000, "the value is nested too deeply"),
    ("agents.0.count=", "agents.count: expected an integer, got ''"),
    ("agents=1", "[[agents]] must be an array of tables"),
    ("agents.0=1", "agents[0]: must be a table"),
    ("faults.crashes.0.node=1", "[[faults.crashes]] must be an array of tables"),
])
def test_bad_overrides_are_scenario_errors(override: str, needle: str) -> None:
    with pytest.raises(ScenarioError) as exc:
        load_scenario("baseline", [parse_override(override)])
    assert needle in str(exc.value)


def test_nodes_beyond_the_count_bound_is_a_scenario_error() -> None:
    with pytest.raises(ScenarioError, match="more than agents.count's bound"):
        load_scenario("liars", nodes=10**400)
    with pytest.raises(ScenarioError, match="group 'honest' would have 1500000 nodes"):
        load_scenario("liars", nodes=2 * 10**6)
    assert [g.count for g in load_scenario("liars", nodes=1000).agents] == [750, 250]


@pytest.mark.parametrize("args", [
    ["--set", "agents.0.behaviour=[1]"],
    ["--set", "agents.9.count=1"],
    ["--set", "network.loss=1" + "0" * 400],
    ["--set", "network.loss=1" + "0" * 5000],
])
def test_cli_reports_bad_overrides_without_a_traceback(args: list[str]) -> None:
    cli.add_command(sim_group, "sim")
    res = CliRunner().invoke(cli, ["sim", "run", "baseline", "--no-plots", *args])
    assert res.exit_code == 2, res.output
    assert isinstance(res.exception, SystemExit)  # (an uncaught error would be here instead)


def test_cli_reports_a_non_utf8_file_without_a_traceback(tmp_path: Path) -> None:
    p = tmp_path / "s.toml"
    p.write_bytes(b"\xff\xfe[scenario]\n")
    cli.add_command(sim_group, "sim")
    res = CliRunner().invoke(cli, ["sim", "run", str(p), "--no-plots"])
    assert res.exit_code == 2 and "not UTF-8 text" in res.output
    assert isinstance(res.exception, SystemExit)
