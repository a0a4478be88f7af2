"""The public API (shared/api.py): its names are pinned, it and the contracts behind it import no
service, and a third-party plugin written against it alone loads through the plugins service's
registry, runs in its runner with real Redis, and its announcement reaches the operators' reader."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from redis.asyncio import Redis

import shared.api
from infra.recent_command import plugin_events
from services.plugins.registry import load_plugins
from services.plugins.runner import PluginRunner
from shared.consumer import Delivery
from shared.keys import Keys
from shared.live_settings import LiveSettings
from shared.messages import EstimationMessage, Face, PluginResult, PluginVerdict, Rect, decode
from shared.settings import Settings
from tests.plugin_support import install_plugin

ROOT = Path(__file__).resolve().parent.parent
# The promise of shared/api.py's docstring: changing this list is a deliberate, versioned act.
PUBLIC = {
    "ENTRY_POINT_GROUP", "ClientInfo", "EstimationMessage", "EyeState", "FaceAnalysis", "FrameCheck", "Plugin",
    "PluginFactory", "PluginVerdict", "SessionMemory", "Settings", "Verdict",
    "Command", "InvalidKeyError", "InvalidTokenError", "Keys", "LPClient", "Reply", "first_use", "transcript",
    "verify_token",
}
PRODUCT_PACKAGES = ("services", "infra", "admin", "load", "tests")

# A plugin as its author would write it, from the documented surface only (docs/plugins.md).
SAMPLE = '''
from pydantic import BaseModel

from shared.api import EstimationMessage, FrameCheck, PluginVerdict, SessionMemory, Settings, Verdict


class Seen(BaseModel):
    frames: int = 0


class FirstFrameVeto:
    name = "first_frame_veto"

    def __init__(self, settings: Settings) -> None:
        self.tag = settings.config_tag

    async def evaluate(self, estimation: EstimationMessage, memory: SessionMemory) -> Verdict:
        seen = await memory.load(Seen) or Seen()
        await memory.save(Seen(frames=seen.frames + 1))
        if seen.frames == 0:
            return Verdict(PluginVerdict.FAIL, codes=(FrameCheck.LIVENESS_FAILED,), details={"frames": 1.0},
                           announce=f"first frame of {estimation.session_id} refused (tag {self.tag})")
        return Verdict(PluginVerdict.PASS, details={"frames": float(seen.frames + 1)})
'''


def test_the_public_names_are_exactly_the_promised_ones_and_all_resolve() -> None:
    assert set(shared.api.__all__) == PUBLIC
    assert len(shared.api.__all__) == len(PUBLIC)
    for name in PUBLIC:
        assert getattr(shared.api, name) is not None, name


def test_the_old_import_paths_are_the_same_objects() -> None:
    from infra.client import LPClient
    from services.plugins.plugin import SessionMemory, Verdict

    assert (Verdict, SessionMemory, LPClient) == (shared.api.Verdict, shared.api.SessionMemory, shared.api.LPClient)


@pytest.mark.parametrize("module", sorted(str(p.relative_to(ROOT)) for p in (ROOT / "shared").rglob("*.py")))
def test_shared_imports_no_service_tool_or_panel(module: str) -> None:
    """Contracts sit below everything: the public surface in shared/ must not pull a service in."""
    tree = ast.parse((ROOT / module).read_text(encoding="utf-8"))
    imported = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    imported += [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    assert not [name for name in imported if name.split(".")[0] in PRODUCT_PACKAGES]


def frame(session_id: str, number: int) -> EstimationMessage:
    face = Face(box=Rect(x=100, y=100, width=200, height=200), keypoints=((0.0, 0.0),) * 5, score=0.9)
    return EstimationMessage(session_id=session_id, request_id=f"r{number}", frame_no=number, frame_width=640,
                             frame_height=480, faces=(face,), main_face=0)


@pytest.mark.anyio
async def test_a_plugin_written_against_the_public_module_runs_through_the_registry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: Settings, redis: Redis, keys: Keys,
) -> None:
    site = install_plugin(tmp_path / "site", "first_frame_veto_plugin", "first_frame_veto", "FirstFrameVeto", SAMPLE)
    monkeypatch.syspath_prepend(str(site))
    only_it = settings.model_copy(update={
        "plugins": settings.plugins.model_copy(update={"extra": ("first_frame_veto",)}),
        "active_liveness": settings.active_liveness.model_copy(update={"is_enabled": False}),
        "light_challenge": settings.light_challenge.model_copy(update={"is_enabled": False}),
        "virtual_camera_checker": settings.virtual_camera_checker.model_copy(update={"is_enabled": False}),
        "session": settings.session.model_copy(update={"previous_face_similarity": None}),
    })
    assert [plugin.name for plugin in load_plugins(only_it)] == ["first_frame_veto"]

    runner = PluginRunner(redis, keys, LiveSettings(redis, keys, only_it))
    await runner.handle([Delivery(f"{n}-0", frame("s1", n)) for n in (1, 2)])

    results = [decode(PluginResult, fields) for _, fields in await redis.xrange(keys.plugin_results("s1"))]
    assert [(r.frame_no, r.verdict, r.details) for r in results] == [
        (1, PluginVerdict.FAIL, {"frames": 1.0}), (2, PluginVerdict.PASS, {"frames": 2.0})]
    lines: list[str] = []
    await plugin_events(redis, keys, 20, None, lines.append)
    assert len(lines) == 1
    assert "s1 frame 1 first_frame_veto: first frame of s1 refused (tag default) [frames=1]" in lines[0]
