"""Every Redis key, stream and consumer group Vigil uses, in one place.

All names start with the configured prefix ``P`` (``VIGIL_REDIS__KEY_PREFIX``, default
``vigil``); tests give each test its own prefix. Nothing else builds a key name.

Streams, rendered from shared/streams.py (``python -m infra.docs_streams``; edit the registry):

| key | type | producer | consumers | retention |
|---|---|---|---|---|
| ``P:frames`` | stream of ``FrameMessage`` | ingress (one entry per FRAME) | groups ``estimator``, ``videobuilder``, ``file_logger`` | ``MAXLEN ~ bus.stream_maxlen``, fewer when frames are large (``bus.frames_max_mb``), ``MINID ~`` now - ``bus.frames_max_age_s`` (shared/retention.py) |
| ``P:estimations`` | stream of ``EstimationMessage`` (with the frame's image when it has a face) | estimator | groups ``decider``, ``plugins``; the admin statistics page (newest entries, by ``XREVRANGE``) | ``MAXLEN ~ bus.stream_maxlen``, fewer when frames are large and by age, as ``P:frames`` |
| ``P:reply:{session}`` | stream of ``ReplyMessage`` | decider (also the error answer to a frame the estimator could not decode) | the ingress connection serving the session, by plain ``XREAD`` from the last id it saw | ``MAXLEN ~ bus.reply_maxlen``, expires ``session.ttl_s`` after the last reply |
| ``P:decisions`` | stream of ``ReplyMessage``: a copy of every answer the decider gave | decider | group ``file_logger`` (stage-5 post-processing), statistics | ``MAXLEN ~ bus.stream_maxlen`` |
| ``P:plugin-results:{session}`` | stream of ``PluginResult`` | stage-3 plugins (FaceMatcher, ActiveLiveness, VirtualCameraChecker, third-party) | the decider deciding that session's frame, by plain ``XREAD`` | ``MAXLEN ~ bus.reply_maxlen``, expires ``session.ttl_s`` |
| ``P:file-log:progress:{session}`` | stream of ``FileLogProgress``: one entry per frame image and per answer line the FileLogger has written (stage 5) | plugins service (FileLogger, after the file write) | the decider, by plain ``XREAD``, before deciding the session's next frame or publishing its final answer | ``MAXLEN ~ bus.reply_maxlen``, expires ``session.ttl_s`` after the last entry |
| ``P:plugin-events`` | stream of ``PluginEvent`` (e.g. virtual-camera evidence found) | plugins service | operators: the admin panel (Sessions, Plugin events) and ``vigil plugin-events``, newest first a page at a time (``shared/recent.py``) | ``MAXLEN ~ bus.reply_maxlen`` (services/plugins/runner.py) |
| ``P:audit:{session}`` | stream of ``AuditEvent``: every decision and state change, from which the state can be rebuilt | decider | operators, the admin's session pages, ``vigil replay``, tests | ``MAXLEN ~ bus.stream_maxlen``; expires ``session.audit_ttl_s`` (7 days) after the last frame |
| ``P:session-events`` | stream of ``SessionEvent`` | ingress (a session ended or its connection dropped) | group ``videobuilder`` | ``MAXLEN ~ bus.stream_maxlen`` |
| ``P:videos`` | stream of ``VideoMessage`` | videobuilder (one per finished video) | operators: the admin panel (Sessions, Videos) and ``vigil videos``, newest first a page at a time (``shared/recent.py``) | ``MAXLEN ~ bus.stream_maxlen`` |
| ``P:video:frames:{session}`` | stream of ``FrameMessage`` copies held for the video (written atomically with the task state by a Lua script) | videobuilder | videobuilder | ``MAXLEN ~ video.frames_limit`` when set; expires ``video.expires`` after the last frame (kept after a ``disconnected`` session's video, so a resumed session rebuilds one common video) |
| ``P:admin:actions`` | stream of ``AdminAction`` (admin/actions.py: actor, verb, kind, object id, at, detail) | admin panel, ``python -m admin`` | admin panel (home page) | ``MAXLEN ~ 10000`` |
| ``P:config-changes`` | stream of ``ConfigChange``: one entry per saved change, the history of live settings | admin panel, ``vigil config`` | every service (plain ``XREAD``: each instance must see every change), admin panel | ``MAXLEN ~ 1000`` |
| ``P:dead:{stream}`` | stream: ``stream``, ``id``, ``group``, ``reason``, ``payload`` (``shared.dead_letters.DeadLetter``) | the consumer loop, for an entry that cannot be decoded or failed ``bus.max_deliveries`` times | operators: ``vigil dead-letters`` (infra/dead_letters_command.py) and the admin panel (Sessions, Dead letters); every process's monitor counts them (a metric, shared/monitor.py) | ``MAXLEN ~ bus.stream_maxlen`` |

Every other key:

| key | type | producer | consumers | retention |
|---|---|---|---|---|
| ``P:session:{session}`` | hash: ``created``, ``frames`` (counter), ``connections`` (counter), ``ended`` (reason), and from CONNECT ``nonce`` and ``ui-config`` (what binds the token) | ingress | ingress (resume with ``session-id``); the decider (the token's ``nonce`` and ``aud``) | expires ``session.ttl_s`` after the last frame |
| ``P:decider:file-log-lapsed:{session}`` | string: the frame whose log was still missing when the decider's wait for the FileLogger lapsed (``file_logger.wait_ms``); later frames of the session no longer wait | decider | decider (any instance) | expires ``session.ttl_s`` |
| ``P:estimator:reference:{session}`` | string: msgpack ``shared.stored.ParallaxReference``: the session's most frontal landmarks (468x2 float32) and pose, for parallax | estimator | estimator (any instance) | expires ``session.ttl_s`` |
| ``P:estimator:track:{session}`` | string: msgpack ``shared.stored.LandmarkTrack``: the session's last analysed frame number, the last two frames' landmarks (2x468x2 float32) and the last 8 landmark-jitter values, for the temporal deepfake cue (``services/estimator/temporal.py``) | estimator (every analysed frame) | estimator (any instance) | expires ``session.ttl_s`` |
| ``P:plugin:state:{plugin}:{session}`` | string: JSON of the plugin's own state model | that plugin (plugins service) | that plugin (any instance) | expires ``session.ttl_s`` |
| ``P:decider:state:{session}`` | string: msgpack ``shared.audit.SessionState`` (counters, aggregation window, marks, best-shot score) | decider | decider (any instance) | expires ``session.ttl_s`` after the last frame |
| ``P:decider:bestshot:{session}`` | string: msgpack ``shared.stored.BestShot``: the best frame so far and its estimations | decider | decider (for the JWT) | expires ``session.ttl_s`` |
| ``P:result:{jti}`` | string: JSON of the full claims (best shot, estimations) of a token signed with ``jwt.claims = minimal`` | decider (at success) | ingress, ``GET /api/results/{jti}`` for the relying party | expires ``jwt.ttl_s`` (the token's lifetime) |
| ``P:video:due`` | sorted set: session -> time (epoch s) its video is due to be built | videobuilder | videobuilder | members removed when built |
| ``P:video:lock:{session}`` | string: builder name, ``SET NX PX`` | videobuilder building the session | videobuilder | expires after ``video.lock_ms`` unless renewed |
| ``P:video:task:{session}`` | hash: the video task: ``status`` (pending/done/empty/error), ``outcome``, ``jwt_id``, ``event_id``, ``session_frames``, ``attempts``, then the finished video's record | videobuilder | admin, ``vigil`` CLI | expires ``video.expires`` while pending, ``video.result_ttl`` once done |
| ``P:ui:configs`` | hash: config name -> JSON of ``shared.ui_config.UiConfig`` | admin panel, ``vigil ui-config load`` | ingress (the check page's ``?cn=``) | kept until deleted |
| ``P:admin:users`` | hash: user name -> JSON of ``admin.accounts.AdminUser`` (argon2 hash, groups, must-change flag, session epoch) | admin panel, ``python -m admin set-password`` | admin panel | kept until deleted |
| ``P:admin:groups`` | hash: group name -> JSON of ``admin.accounts.AdminGroup`` (sections it grants) | admin panel | admin panel | kept until deleted |
| ``P:admin:session:{sha256(token)}`` | string: JSON of ``admin.web_sessions.WebSession`` (user, CSRF token, epoch) | admin panel (sign-in) | admin panel | expires ``admin.session_ttl_s`` after sign-in (absolute); deleted at sign-out |
| ``P:admin:signin-failures:{user or addr}:{value}`` | string: sign-in attempts of a user name (counted before the password check, deleted on success and by ``set-password``) / failed sign-ins from a client address (behind ``proxy.trusted``, the forwarded one) | admin panel | admin panel | expires ``admin.signin_window_s`` after the first one |
| ``P:config`` | hash: config tag -> JSON of ``shared.live_config.StoredConfig`` (version, live-settings overrides, who, when) | admin panel (settings pages), ``vigil config`` | every service (``shared.live_settings.LiveSettings``), admin panel | kept until deleted |
| ``P:abuse:failures:{scope}:{value}`` | sorted set: failed session id -> when (epoch s); scope ``address``, ``device`` or ``user`` (device and user keys as SHA-256 prefixes) | ingress (a session ended without success) | ingress | members older than ``abuse.window_s`` dropped; expires ``abuse.window_s`` |
| ``P:abuse:block:{scope}:{value}`` | string: JSON of ``shared.abuse.Block`` (why, since, until) | ingress (too many failures) | ingress (CONNECT refused with 1022), admin panel (list, lift) | expires ``abuse.block_s`` |
| ``P:abuse:open:{address}`` | sorted set: open session id -> when | ingress | ingress (``abuse.max_sessions_per_address``) | members removed when the socket closes, or older than ``session.ttl_s``; expires ``session.ttl_s`` |
| ``P:abuse:new:{address}`` | string: new sessions counted this minute | ingress | ingress (``abuse.max_new_sessions_per_minute``) | expires 60 s after the minute's first |
| ``P:abuse:refusals`` | hash: reason -> CONNECTs refused for it | ingress | admin panel (Limits page) | kept |
| ``P:token-used:{jti}`` | string: the session id of a token verified with ``vigil verify --once`` (``shared.tokens.first_use``) | ``vigil verify --once``, relying parties using ``first_use`` | the same: a second verification reports a replay | expires when the token does (``exp``) |

Delivery is at-least-once: a consumer must tolerate seeing the same entry twice (replies are
matched by ``request_id``; the ingress ignores replies it is not waiting for).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# Fields of ``P:session:{session}`` the ingress writes from CONNECT and the decider reads for the JWT.
SESSION_NONCE, SESSION_UI_CONFIG = "nonce", "ui-config"


class Group(StrEnum):
    ESTIMATOR = "estimator"
    DECIDER = "decider"
    PLUGINS = "plugins"
    FILE_LOGGER = "file_logger"
    VIDEOBUILDER = "videobuilder"


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str

    @property
    def frames(self) -> str:
        return f"{self.prefix}:frames"

    @property
    def estimations(self) -> str:
        return f"{self.prefix}:estimations"

    @property
    def decisions(self) -> str:
        return f"{self.prefix}:decisions"

    def reply(self, session_id: str) -> str:
        return f"{self.prefix}:reply:{session_id}"

    def session(self, session_id: str) -> str:
        return f"{self.prefix}:session:{session_id}"

    def plugin_results(self, session_id: str) -> str:
        return f"{self.prefix}:plugin-results:{session_id}"

    def file_log_progress(self, session_id: str) -> str:
        return f"{self.prefix}:file-log:progress:{session_id}"

    def file_log_lapsed(self, session_id: str) -> str:
        return f"{self.prefix}:decider:file-log-lapsed:{session_id}"

    def estimator_reference(self, session_id: str) -> str:
        return f"{self.prefix}:estimator:reference:{session_id}"

    def estimator_track(self, session_id: str) -> str:
        return f"{self.prefix}:estimator:track:{session_id}"

    @property
    def plugin_events(self) -> str:
        return f"{self.prefix}:plugin-events"

    def plugin_state(self, plugin: str, session_id: str) -> str:
        return f"{self.prefix}:plugin:state:{plugin}:{session_id}"

    def decider_state(self, session_id: str) -> str:
        return f"{self.prefix}:decider:state:{session_id}"

    def bestshot(self, session_id: str) -> str:
        return f"{self.prefix}:decider:bestshot:{session_id}"

    def result(self, jwt_id: str) -> str:
        return f"{self.prefix}:result:{jwt_id}"

    def audit(self, session_id: str) -> str:
        return f"{self.prefix}:audit:{session_id}"

    @property
    def session_events(self) -> str:
        return f"{self.prefix}:session-events"

    @property
    def videos(self) -> str:
        return f"{self.prefix}:videos"

    def video_frames(self, session_id: str) -> str:
        return f"{self.prefix}:video:frames:{session_id}"

    @property
    def video_due(self) -> str:
        return f"{self.prefix}:video:due"

    def video_lock(self, session_id: str) -> str:
        return f"{self.prefix}:video:lock:{session_id}"

    def video_task(self, session_id: str) -> str:
        return f"{self.prefix}:video:task:{session_id}"

    @property
    def ui_configs(self) -> str:
        return f"{self.prefix}:ui:configs"

    @property
    def admin_users(self) -> str:
        return f"{self.prefix}:admin:users"

    @property
    def admin_groups(self) -> str:
        return f"{self.prefix}:admin:groups"

    def admin_session(self, token_hash: str) -> str:
        return f"{self.prefix}:admin:session:{token_hash}"

    def admin_signin_failures(self, scope: str, value: str) -> str:
        return f"{self.prefix}:admin:signin-failures:{scope}:{value}"

    @property
    def admin_actions(self) -> str:
        return f"{self.prefix}:admin:actions"

    @property
    def config(self) -> str:
        return f"{self.prefix}:config"

    @property
    def config_changes(self) -> str:
        return f"{self.prefix}:config-changes"

    def abuse_failures(self, scope: str, value: str) -> str:
        return f"{self.prefix}:abuse:failures:{scope}:{value}"

    def abuse_block(self, scope: str, value: str) -> str:
        return f"{self.prefix}:abuse:block:{scope}:{value}"

    @property
    def abuse_blocks(self) -> str:
        """The SCAN pattern of every block (the admin panel lists them)."""
        return f"{self.prefix}:abuse:block:*"

    def abuse_open(self, address: str) -> str:
        return f"{self.prefix}:abuse:open:{address}"

    def abuse_new(self, address: str) -> str:
        return f"{self.prefix}:abuse:new:{address}"

    @property
    def abuse_refusals(self) -> str:
        return f"{self.prefix}:abuse:refusals"

    def token_used(self, jwt_id: str) -> str:
        return f"{self.prefix}:token-used:{jwt_id}"

    def dead_letter(self, stream: str) -> str:
        return f"{self.prefix}:dead:{stream.removeprefix(self.prefix + ':')}"
