"""Server settings, from environment variables prefixed `LIVEQUIZ_` (pydantic-settings)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from gameserver.openfiles import DEFAULT_REDIS_POOL_SIZE

ENV_PREFIX = "LIVEQUIZ_"


class BadSettings(ValueError):
    """A setting's value is refused; the message names each variable, its value and the rule."""

    code = "bad_settings"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    def __init__(self, **values: Any) -> None:
        # pydantic's error is a traceback through its internals naming the field, not the
        # variable an operator set; one line per bad variable is what `livequiz serve` prints.
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise BadSettings(_explain(exc)) from None

    #: Redis or Valkey server to share with other processes. Empty: start a private one.
    redis_url: str = ""
    #: Connections of this process's Redis pool (per node on a cluster); a burst beyond it waits
    #: for one (up to 20 s, then `server_busy`). At least 2: on one Redis the game events'
    #: subscription holds one pooled connection for good, so a pool of 1 leaves none for commands.
    redis_pool_size: int = Field(DEFAULT_REDIS_POOL_SIZE, ge=2)
    #: Acknowledge an answer only once this many replicas have it (`WAIT` after each answer
    #: batch; docs/cluster.md, what replication can lose). 0: on the master's word alone.
    answer_replicas: int = Field(0, ge=0)
    #: How long an answer batch waits for them; when too few confirm, its answers get
    #: `server_error` ("try again"; the answer is kept on the master, a retry finds it).
    answer_replicas_timeout_ms: int = Field(100, ge=1)
    #: Where the private Redis keeps its append-only file (and other local data).
    data_dir: Path = Path("data")
    #: SQL database of the persistence modules: empty is a SQLite file `data_dir/livequiz.db`;
    #: `postgresql://user@host/db` (or any SQLAlchemy URL) for real deployments.
    database_url: str = ""
    #: PostgreSQL schema to use (its `search_path`); empty: the database's default.
    database_schema: str = ""
    #: Where the platform's files (proctoring snapshots, speaking audio) go: empty is files under
    #: `data_dir`; `s3://ACCESS:SECRET@host:port/bucket[/prefix]?region=…&secure=0` an
    #: S3-compatible server (needs the `s3` extra).
    blob_store_url: str = ""
    #: `text` (uvicorn's lines, for people) or `json` (one JSON object per line, for collectors).
    log_format: Literal["text", "json"] = "text"

    # Bounds (DESIGN.md principle 8); each has a stated rule when hit.
    max_players: int = Field(10_000, ge=1)  # join beyond it -> game_full
    # Sockets one process holds at once (0: as many as its open files allow, `openfiles`);
    # a connection beyond it -> HTTP 503 with Retry-After, before the WebSocket handshake.
    max_connections: int = Field(0, ge=0)
    max_message_bytes: int = Field(4096, ge=256)  # larger frame -> close 1009
    max_questions: int = Field(200, ge=1)  # larger quiz -> invalid_quiz
    rate_per_s: float = Field(10.0, gt=0)  # sustained messages per socket
    rate_burst: int = Field(20, ge=1)  # bucket size; over it -> rate_limited
    rate_strikes: int = Field(20, ge=1)  # refused messages before close 1008
    send_queue_frames: int = Field(256, ge=8)  # a socket this far behind is closed 1013
    send_buffer_bytes: int = Field(256 * 1024, ge=4096)  # ... or with this much unsent
    first_message_timeout_s: float = Field(10.0, gt=0)  # no join/host/resume -> close 1008
    # Per client address, counted in Redis across processes (`iplimits`); over -> 429
    # rate_limited + Retry-After. Sized for a class behind one school NAT; 0 turns one off.
    ip_join_limit: int = Field(60, ge=0)  # joins per address per window
    ip_join_window_s: float = Field(10.0, gt=0)
    ip_create_limit: int = Field(30, ge=0)  # games created per address per window
    ip_create_window_s: float = Field(60.0, gt=0)
    ip_lookup_miss_limit: int = Field(60, ge=0)  # look-ups of PINs with no game per window
    ip_lookup_miss_window_s: float = Field(60.0, gt=0)
    # Comma-separated addresses of reverse proxies whose X-Forwarded-For (and -Proto) is believed;
    # anyone else's is ignored. Empty: believe no one (each socket's peer is its client).
    trusted_proxies: str = "127.0.0.1"
    # Slow or idle connections (`connguard`): open connections per client address (0: no cap;
    # over -> 429 too_many_connections), and the time a request's headers, then its body, may
    # take to arrive (over -> the connection is dropped).
    max_connections_per_ip: int = Field(1000, ge=0)
    header_timeout_s: float = Field(5.0, gt=0)
    body_timeout_s: float = Field(30.0, gt=0)

    # Timing.
    lobby_interval_ms: int = Field(300, ge=50)  # lobby/answer_count updates at most this often
    sweep_interval_ms: int = Field(1000, ge=50)  # how often every process looks for due deadlines
    close_grace_ms: int = Field(150, ge=0)  # a deadline close waits this long for answers in flight
    # A `next` naming no phase within this long of the step a `next` took is a repeat where it
    # would close the question just opened or skip a reveal not yet out (machine.is_repeated_next).
    next_repeat_window_ms: int = Field(1000, ge=0)
    # A player whose last socket drops during a question is still waited for this long (never
    # past the deadline) before "everyone answered" closes it early; 0: not waited for.
    reconnect_grace_ms: int = Field(3000, ge=0)
    results_ttl_s: int = Field(24 * 3600, ge=60)  # finished games (and their PINs) are kept this long
    game_ttl_s: int = Field(24 * 3600, ge=60)  # an unfinished game is dropped after this long
    # Finished games' results reach SQL at once; a process that died while writing them leaves
    # its claim for this long, and every process looks for such games this often.
    # The platform's request limits per minute (PLATFORM.md, 000 §3), across all processes;
    # over them: 429 rate_limited with Retry-After. 0 turns one off.
    platform_rate_anonymous: int = Field(30, ge=0)  # per IP, without credentials
    platform_rate_user: int = Field(60, ge=0)  # per signed-in user
    platform_rate_auth: int = Field(5, ge=0)  # per IP, on register, login and reset
    archive_lease_ms: int = Field(30_000, ge=500)
    archive_interval_ms: int = Field(2_000, ge=100)
    # Solo attempts past their deadline are finished by the server this often (one process a
    # round, by a lease in Redis), even if nobody touches them again.
    attempt_sweep_interval_ms: int = Field(5_000, ge=100)
    # Ended tokens, old Telegram link codes and wallet idempotency keys are deleted this often
    # (one process a round; `persistence/housekeeping.py` says what goes when).
    housekeeping_interval_s: int = Field(3_600, ge=1)

    # Telegram bridge: off without a token.
    telegram_token: str = ""
    telegram_api_url: str = "https://api.telegram.org/bot"
    telegram_webhook_url: str = ""
    telegram_webhook_secret: str = ""
    telegram_budget_ops: int = Field(20, ge=1)
    telegram_budget_window_s: float = Field(60.0, gt=0)
    # One process drives the bot (a lease in Redis); another takes over this long after it died.
    telegram_lease_ms: int = Field(5000, ge=1000)

    public_url: str = ""  # how players reach this server (join links, QR codes); empty: from the request

    # Outgoing mail (password reset to an account's email): the SMTP server to hand it to.
    # Empty host: no mail is sent (a reset then needs a linked Telegram account).
    smtp_host: str = ""
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_from: str = "livequiz@localhost"
    smtp_user: str = ""  # empty: no SMTP AUTH
    smtp_password: str = ""
    smtp_starttls: bool = True  # upgrade the connection with STARTTLS before anything is sent
    smtp_timeout_s: float = Field(20.0, gt=0)

    # "Sign in with Google" (OpenID Connect): off while the client id is empty. The redirect
    # URI to register with Google is PUBLIC_URL + /auth/google/callback.
    google_client_id: str = ""
    google_client_secret: str = ""
    google_discovery_url: str = "https://accounts.google.com/.well-known/openid-configuration"

    # Wallet (PLATFORM.md "Wallet", 000 §5). Money is whole so'm. Tax rates are whole percent,
    # shown by GET /api/wallet; a changed rate applies to movements after the change only.
    wallet_tax_to_bonus: int = Field(10, ge=0, le=100)  # earnings → bonus
    wallet_tax_to_main: int = Field(20, ge=0, le=100)  # earnings → main
    wallet_tax_withdraw: int = Field(5, ge=0, le=100)  # main → card
    wallet_welcome_bonus: int = Field(5_000, ge=0)  # once per user, at registration (0: none)
    wallet_referral_bonus: int = Field(5_000, ge=0)  # to the referrer, once per referred user
    wallet_min_amount: int = Field(1_000, ge=1)  # smallest top-up, transfer or withdrawal
    wallet_max_amount: int = Field(100_000_000, ge=1)  # largest single one, and largest admin bonus
    wallet_provider: str = "sandbox"  # the payment provider; only the local sandbox ships today
    wallet_webhook_secret: str = ""  # the provider's webhook signing secret (empty: random per process)
    wallet_otp_ttl_s: int = Field(300, ge=30)  # a top-up's code expires after this long


def _explain(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        name = ENV_PREFIX + "_".join(str(part) for part in error["loc"]).upper()
        lines.append(f"{name}={error.get('input')!r}: {error['msg']}")
    return "bad settings:\n  " + "\n  ".join(lines)
