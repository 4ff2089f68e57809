"""No import cycle among the modules of ``bot`` and ``adapters`` (imports inside functions and under
TYPE_CHECKING count too: a cycle there is still two modules that cannot be read or changed apart)."""

from __future__ import annotations

import graphlib

import grimp


def import_graph(*packages: str) -> dict[str, set[str]]:
    """Each module of ``packages`` -> the modules of ``packages`` it imports, as grimp reads them from the source."""
    graph = grimp.build_graph(*packages, cache_dir=None)
    return {module: graph.find_modules_directly_imported_by(module) for module in graph.modules}


def first_cycle(imports: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (its first module repeated at the end), or None."""
    try:
        graphlib.TopologicalSorter(imports).prepare()
    except graphlib.CycleError as err:
        cycle: list[str] = err.args[1]
        return cycle
    return None


def test_the_cycle_finder_finds_a_cycle_and_passes_a_tree() -> None:
    cycle = first_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}})
    assert cycle is not None and set(cycle) == {"a", "b", "c"} and cycle[0] == cycle[-1]
    assert first_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycle_in_bot_or_adapters() -> None:
    imports = import_graph("bot", "adapters")
    assert {"adapters.composition", "adapters.runtime", "adapters.slack.runtime", "bot.delivery.runner"} <= set(
        imports
    )
    assert "adapters.composition" in imports["adapters.runtime"]  # the graph has the edges, not just the nodes
    assert first_cycle(imports) is None
