"""Every Redis stream as data: its key, its message, what bounds it, who writes it and who reads it.

The streams' rows of the key table in shared/keys.py are rendered from this registry
(``python -m infra.docs_streams``; tests/test_docs.py fails when they are not current), so the
table says what the code does: edit a stream here, never in that table. tests/test_streams.py
checks that each module named here uses the key, that no other module does, and that the bound is
applied where it says. Every stream has a reader: one kept "for operators" gets the view they read
it with (an admin page, a ``vigil`` command), and the test fails on ``readers=()``: a stream nobody
reads gets a reader or is removed.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

from shared.keys import Keys


@dataclass(frozen=True, slots=True)
class StreamSpec:
    key: str  # the ``shared.keys.Keys`` attribute that names it
    message: str  # the type of its entries, as its producers name it ("" for the dead letters' raw fields)
    bound: str  # what trims it (MAXLEN ~): a setting ``group.field`` or a number
    bound_at: str  # the module that applies the bound
    producers: tuple[str, ...]  # modules that write it
    readers: tuple[str, ...]  # modules that read its entries (never empty: tests/test_streams.py)
    observers: tuple[str, ...] = ()  # modules that only look at its length or groups (metrics, load, waits)
    # The key table's words for people (shared/keys.py): what follows the entries' type, who writes
    # and who reads it, and what follows the MAXLEN bound in the retention column.
    entries: str = ""
    written_by: str = ""
    read_by: str = ""
    retention: str = ""


def key_name(attribute: str) -> str:
    """The key as the table writes it: ``P:reply:{session}`` for ``Keys.reply``."""
    value = getattr(Keys("P"), attribute)
    if not callable(value):
        return str(value)
    placeholders = ["{" + name.removesuffix("_id") + "}" for name in inspect.signature(value).parameters]
    return str(value(*placeholders))


STREAMS: tuple[StreamSpec, ...] = (
    StreamSpec("frames", "FrameMessage", "bus.stream_maxlen", "shared/retention.py",
               producers=("services/ingress/frames.py",),
               readers=("services/estimator/main.py", "services/videobuilder/main.py",
                        "services/videobuilder/collector.py", "services/plugins/main.py", "infra/replay/recorded.py"),
               observers=("services/ingress/main.py", "services/ingress/app.py", "infra/replay/command.py",
                          "infra/eval/stack.py"),
               written_by="ingress (one entry per FRAME)",
               read_by="groups ``estimator``, ``videobuilder``, ``file_logger``",
               retention=", fewer when frames are large (``bus.frames_max_mb``), ``MINID ~`` now - "
                         "``bus.frames_max_age_s`` (shared/retention.py)"),
    StreamSpec("estimations", "EstimationMessage", "bus.stream_maxlen", "shared/retention.py",
               producers=("services/estimator/worker.py",),
               readers=("services/decider/main.py", "services/plugins/main.py", "admin/stats.py"),
               observers=("infra/eval/stack.py",),
               entries=" (with the frame's image when it has a face)", written_by="estimator",
               read_by="groups ``decider``, ``plugins``; the admin statistics page (newest entries, by ``XREVRANGE``)",
               retention=", fewer when frames are large and by age, as ``P:frames``"),
    StreamSpec("reply", "ReplyMessage", "bus.reply_maxlen", "services/decider/store.py",
               producers=("services/decider/store.py",),
               readers=("services/ingress/frames.py", "infra/replay/engine.py"),
               written_by="decider (also the error answer to a frame the estimator could not decode)",
               read_by="the ingress connection serving the session, by plain ``XREAD`` from the last id it saw",
               retention=", expires ``session.ttl_s`` after the last reply"),
    StreamSpec("decisions", "ReplyMessage", "bus.stream_maxlen", "services/decider/store.py",
               producers=("services/decider/store.py",),
               readers=("services/plugins/main.py", "admin/stats.py", "infra/replay/recorded.py"),
               entries=": a copy of every answer the decider gave", written_by="decider",
               read_by="group ``file_logger`` (stage-5 post-processing), statistics"),
    StreamSpec("plugin_results", "PluginResult", "bus.reply_maxlen", "services/plugins/runner.py",
               producers=("services/plugins/runner.py",),
               readers=("services/decider/join.py", "infra/replay/engine.py", "infra/replay/recorded.py"),
               written_by="stage-3 plugins (FaceMatcher, ActiveLiveness, VirtualCameraChecker, third-party)",
               read_by="the decider deciding that session's frame, by plain ``XREAD``",
               retention=", expires ``session.ttl_s``"),
    StreamSpec("file_log_progress", "FileLogProgress", "bus.reply_maxlen", "services/plugins/postprocess/progress.py",
               producers=("services/plugins/postprocess/progress.py",),
               readers=("services/decider/postprocess.py",),
               entries=": one entry per frame image and per answer line the FileLogger has written (stage 5)",
               written_by="plugins service (FileLogger, after the file write)",
               read_by="the decider, by plain ``XREAD``, before deciding the session's next frame or publishing "
                       "its final answer",
               retention=", expires ``session.ttl_s`` after the last entry"),
    StreamSpec("plugin_events", "PluginEvent", "bus.reply_maxlen", "services/plugins/runner.py",
               producers=("services/plugins/runner.py",),
               readers=("admin/plugin_events.py", "infra/recent_command.py"),
               entries=" (e.g. virtual-camera evidence found)", written_by="plugins service",
               read_by="operators: the admin panel (Sessions, Plugin events) and ``vigil plugin-events``, newest "
                       "first a page at a time (``shared/recent.py``)",
               retention=" (services/plugins/runner.py)"),
    StreamSpec("audit", "AuditEvent", "bus.stream_maxlen", "services/decider/store.py",
               producers=("services/decider/store.py",),
               readers=("services/decider/store.py", "admin/sessions.py"),
               entries=": every decision and state change, from which the state can be rebuilt",
               written_by="decider", read_by="operators, the admin's session pages, ``vigil replay``, tests",
               retention="; expires ``session.audit_ttl_s`` (7 days) after the last frame"),
    StreamSpec("session_events", "SessionEvent", "bus.stream_maxlen", "services/ingress/app.py",
               producers=("services/ingress/sessions.py",),
               readers=("services/videobuilder/main.py", "admin/sessions.py", "admin/stats.py"),
               written_by="ingress (a session ended or its connection dropped)", read_by="group ``videobuilder``"),
    StreamSpec("videos", "VideoMessage", "bus.stream_maxlen", "services/videobuilder/builder.py",
               producers=("services/videobuilder/builder.py",),
               readers=("admin/videos.py", "infra/recent_command.py"),
               written_by="videobuilder (one per finished video)",
               read_by="operators: the admin panel (Sessions, Videos) and ``vigil videos``, newest first a page at "
                       "a time (``shared/recent.py``)"),
    StreamSpec("video_frames", "FrameMessage", "video.frames_limit", "services/videobuilder/tasks.py",
               producers=("services/videobuilder/tasks.py",), readers=("services/videobuilder/tasks.py",),
               entries=" copies held for the video (written atomically with the task state by a Lua script)",
               written_by="videobuilder", read_by="videobuilder",
               retention=" when set; expires ``video.expires`` after the last frame (kept after a ``disconnected`` "
                         "session's video, so a resumed session rebuilds one common video)"),
    StreamSpec("admin_actions", "AdminAction", "10000", "admin/config.py",
               producers=("admin/actions.py",), readers=("admin/actions.py",),
               entries=" (admin/actions.py: actor, verb, kind, object id, at, detail)",
               written_by="admin panel, ``python -m admin``", read_by="admin panel (home page)"),
    StreamSpec("config_changes", "ConfigChange", "1000", "shared/live_config.py",
               producers=("shared/live_config.py",),
               readers=("shared/live_settings.py", "admin/settings_view.py", "infra/config_command.py"),
               entries=": one entry per saved change, the history of live settings",
               written_by="admin panel, ``vigil config``",
               read_by="every service (plain ``XREAD``: each instance must see every change), admin panel"),
    StreamSpec("dead_letter", "", "bus.stream_maxlen", "shared/consumer.py",
               producers=("shared/consumer.py",), readers=("shared/dead_letters.py", "infra/dead_letters_command.py"),
               observers=("shared/monitor.py",),
               entries=": ``stream``, ``id``, ``group``, ``reason``, ``payload`` (``shared.dead_letters.DeadLetter``)",
               written_by="the consumer loop, for an entry that cannot be decoded or failed ``bus.max_deliveries`` "
                          "times",
               read_by="operators: ``vigil dead-letters`` (infra/dead_letters_command.py) and the admin panel "
                       "(Sessions, Dead letters); every process's monitor counts them (a metric, shared/monitor.py)"),
)
