"""Every Redis stream as data: its key, its message, what bounds it, who writes it and who reads it.

shared/keys.py describes the streams for people; this registry says the same for tests:
tests/test_streams.py checks that each module named here uses the key, that no other module does,
that the bound is applied where it says, and that the key's row in shared/keys.py names the same
bound, so the description cannot drift from the code again. Every stream has a reader: one kept
"for operators" gets the view they read it with (an admin page, a ``vigil`` command), and the test
fails on ``readers=()``: a stream nobody reads gets a reader or is removed.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StreamSpec:
    key: str  # the ``shared.keys.Keys`` attribute that names it
    message: str  # the ``shared.messages`` type of its entries ("" for the dead letters' raw fields)
    bound: str  # what trims it, as shared/keys.py writes it: a setting ``group.field`` or a number
    bound_at: str  # the module that applies the bound
    producers: tuple[str, ...]  # modules that write it
    readers: tuple[str, ...]  # modules that read its entries (never empty: tests/test_streams.py)
    observers: tuple[str, ...] = ()  # modules that only look at its length or groups (metrics, load, waits)


STREAMS: tuple[StreamSpec, ...] = (
    StreamSpec("frames", "FrameMessage", "bus.stream_maxlen", "shared/retention.py",
               producers=("services/ingress/frames.py",),
               readers=("services/estimator/main.py", "services/videobuilder/main.py",
                        "services/videobuilder/collector.py", "services/plugins/main.py", "infra/replay/recorded.py"),
               observers=("services/ingress/main.py", "services/ingress/app.py", "infra/replay/command.py",
                          "infra/eval/stack.py")),
    StreamSpec("estimations", "EstimationMessage", "bus.stream_maxlen", "shared/retention.py",
               producers=("services/estimator/worker.py",),
               readers=("services/decider/main.py", "services/plugins/main.py", "admin/stats.py"),
               observers=("infra/eval/stack.py",)),
    StreamSpec("reply", "ReplyMessage", "bus.reply_maxlen", "services/decider/store.py",
               producers=("services/decider/store.py",),
               readers=("services/ingress/frames.py", "infra/replay/engine.py")),
    StreamSpec("decisions", "ReplyMessage", "bus.stream_maxlen", "services/decider/store.py",
               producers=("services/decider/store.py",),
               readers=("services/plugins/main.py", "admin/stats.py", "infra/replay/recorded.py")),
    StreamSpec("plugin_results", "PluginResult", "bus.reply_maxlen", "services/plugins/runner.py",
               producers=("services/plugins/runner.py",),
               readers=("services/decider/join.py", "infra/replay/engine.py", "infra/replay/recorded.py")),
    StreamSpec("file_log_progress", "FileLogProgress", "bus.reply_maxlen", "services/plugins/postprocess/progress.py",
               producers=("services/plugins/postprocess/progress.py",),
               readers=("services/decider/postprocess.py",)),
    StreamSpec("plugin_events", "PluginEvent", "bus.reply_maxlen", "services/plugins/runner.py",
               producers=("services/plugins/runner.py",),
               readers=("admin/plugin_events.py", "infra/recent_command.py")),
    StreamSpec("audit", "AuditEvent", "bus.stream_maxlen", "services/decider/store.py",
               producers=("services/decider/store.py",),
               readers=("services/decider/store.py", "admin/sessions.py")),
    StreamSpec("session_events", "SessionEvent", "bus.stream_maxlen", "services/ingress/app.py",
               producers=("services/ingress/sessions.py",),
               readers=("services/videobuilder/main.py", "admin/sessions.py", "admin/stats.py")),
    StreamSpec("videos", "VideoMessage", "bus.stream_maxlen", "services/videobuilder/builder.py",
               producers=("services/videobuilder/builder.py",),
               readers=("admin/videos.py", "infra/recent_command.py")),
    StreamSpec("video_frames", "FrameMessage", "video.frames_limit", "services/videobuilder/tasks.py",
               producers=("services/videobuilder/tasks.py",), readers=("services/videobuilder/tasks.py",)),
    StreamSpec("admin_actions", "AdminAction", "10000", "admin/config.py",
               producers=("admin/actions.py",), readers=("admin/actions.py",)),
    StreamSpec("config_changes", "ConfigChange", "1000", "shared/live_config.py",
               producers=("shared/live_config.py",),
               readers=("shared/live_settings.py", "admin/settings_view.py", "infra/config_command.py")),
    StreamSpec("dead_letter", "", "bus.stream_maxlen", "shared/consumer.py",
               producers=("shared/consumer.py",), readers=("infra/dead_letters_command.py",),
               observers=("shared/monitor.py",)),
)
