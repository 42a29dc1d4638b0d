-- issuer schema. Applied by `issuer migrate` in one transaction under an
-- advisory lock. Each section below is one version; applied versions are
-- recorded in schema_migrations and never re-run. Append new versions at the
-- end; never edit an applied one.

-- (Bounded repetition such as {1,128} makes PostgreSQL regexes slow: keep
-- patterns unbounded and check length separately.)

-- migration: 1 queue
CREATE TABLE batches (
    id                  bigserial PRIMARY KEY,
    name                text        NOT NULL,
    stock_id            text        COLLATE "C" NOT NULL CHECK (stock_id <> '' AND length(stock_id) <= 128),
    kind                text        NOT NULL CHECK (kind IN ('favor', 'product')),
    mchid               text        NOT NULL,
    appid               text        NOT NULL,
    stock_creator_mchid text        NOT NULL,
    status              text        NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'running', 'paused', 'halted', 'completed', 'cancelled')),
    halt_reason         text,
    source_file         text        NOT NULL DEFAULT '',
    source_sha256       text        NOT NULL DEFAULT '',
    encoding            text        NOT NULL DEFAULT '',
    lines               integer     NOT NULL DEFAULT 0,
    accepted            integer     NOT NULL DEFAULT 0,
    duplicates          integer     NOT NULL DEFAULT 0,
    rejected            integer     NOT NULL DEFAULT 0,
    blank               integer     NOT NULL DEFAULT 0,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'halted') = (halt_reason IS NOT NULL))
);
CREATE INDEX batches_runnable ON batches (id) WHERE status IN ('pending', 'running');
CREATE INDEX batches_stock ON batches (stock_id);

-- out_request_no = mchid + yyyymmdd + this sequence, zero-padded.
CREATE SEQUENCE out_request_seq;

CREATE TABLE recipients (
    id               bigserial   PRIMARY KEY,
    -- References batches (id). Not declared as a foreign key: the per-row
    -- check would cost about a third of a million-row import, and rows are
    -- only ever inserted by the import that creates their batch in the same
    -- transaction; batches are never deleted.
    batch_id         bigint      NOT NULL,
    -- Identifiers compare byte-wise (COLLATE "C"): correct for opaque ids,
    -- and several times faster to index than a linguistic collation.
    mchid            text        COLLATE "C" NOT NULL,
    openid           text        COLLATE "C" NOT NULL CHECK (openid ~ '^[A-Za-z0-9_-]+$' AND length(openid) <= 128),
    -- Generated or supplied at import, committed before the first send and
    -- never changed: it is what makes retries idempotent at WeChat Pay.
    out_request_no   text        COLLATE "C" NOT NULL CHECK (out_request_no ~ '^[0-9A-Za-z_|*-]+$' AND length(out_request_no) <= 128),
    source_line      integer     NOT NULL,
    coupon_value     bigint      CHECK (coupon_value > 0),
    coupon_minimum   bigint      CHECK (coupon_minimum > 0),
    coupon_type      text        CHECK (coupon_type IN ('NORMAL', 'MEMBER')),
    member_card_id   text,
    -- For product coupons: the merchant-supplied code, or the one WeChat assigned.
    coupon_code      text,
    status           text        NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'in_flight', 'issued', 'failed', 'review')),
    outcome          text,
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    lease_owner      text,
    lease_expires_at timestamptz,
    coupon_id        text        COLLATE "C",
    wx_code          text,
    wx_message       text,
    last_attempt_at  timestamptz,
    issued_at        timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT recipients_out_request_no_key UNIQUE (mchid, out_request_no),
    CONSTRAINT recipients_batch_openid_key UNIQUE (batch_id, openid),
    CHECK ((status = 'in_flight') = (lease_expires_at IS NOT NULL)),
    CHECK (status <> 'issued' OR coupon_id IS NOT NULL OR coupon_code IS NOT NULL OR outcome = 'already_issued')
);
-- The claim path: a runnable batch's pending rows, due first.
CREATE INDEX recipients_claim_batch ON recipients (batch_id, next_attempt_at, id) WHERE status = 'pending';
-- Lease rescue: in-flight rows whose worker died.
CREATE INDEX recipients_lease ON recipients (lease_expires_at) WHERE status = 'in_flight';
CREATE INDEX recipients_coupon ON recipients (coupon_id) WHERE coupon_id IS NOT NULL;
CREATE INDEX recipients_batch_status ON recipients (batch_id, status);

-- migration: 2 reconcile
-- WeChat Pay's use-flow and refund-flow files, as downloaded. A file is
-- recorded once per stock, kind, day and content: re-running a day with the
-- same file changes nothing. Rejected files (their SHA1 matched but they did
-- not parse, e.g. a 总条数 footer that disagrees with the rows) are recorded
-- too, with the reason, and load no rows. The raw file stays at path.
CREATE TABLE flow_files (
    id            bigserial   PRIMARY KEY,
    stock_id      text        COLLATE "C" NOT NULL CHECK (stock_id <> '' AND length(stock_id) <= 128),
    kind          text        NOT NULL CHECK (kind IN ('use', 'refund')),
    -- The day the file was fetched for (issuer reconcile --date).
    file_date     date        NOT NULL,
    sha1          text        COLLATE "C" NOT NULL CHECK (sha1 ~ '^[0-9a-f]+$' AND length(sha1) = 40),
    path          text        NOT NULL,
    bytes         bigint      NOT NULL CHECK (bytes >= 0),
    -- Data rows parsed, equal to the 总条数 footer for a loaded file.
    rows          integer     NOT NULL DEFAULT 0,
    -- Rows this file added to flow_uses / flow_refunds.
    new_rows      integer     NOT NULL DEFAULT 0,
    status        text        NOT NULL CHECK (status IN ('loaded', 'rejected')),
    error         text,
    downloaded_at timestamptz NOT NULL,
    loaded_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT flow_files_day_key UNIQUE (stock_id, kind, file_date, sha1),
    CHECK ((status = 'rejected') = (error IS NOT NULL))
);

-- One row per redemption line. Files are cumulative, so the same line comes
-- back every day: the key makes loading it again a no-op. first_date is the
-- earliest file day that had the line, for "as of" reports.
CREATE TABLE flow_uses (
    stock_id       text        COLLATE "C" NOT NULL,
    coupon_id      text        COLLATE "C" NOT NULL,
    transaction_id text        COLLATE "C" NOT NULL,  -- 支付单号
    used_at        timestamptz NOT NULL,              -- 消耗时间
    coupon_type    text        NOT NULL,              -- 优惠类型
    amount         bigint      NOT NULL,              -- 优惠金额, fen
    order_amount   bigint      NOT NULL,              -- 订单总金额, fen
    trade_type     text        NOT NULL,              -- 交易类型
    consume_mchid  text        COLLATE "C" NOT NULL,  -- 消耗商户号, may be empty
    device_no      text        NOT NULL,              -- 设备号
    bank_serial_no text        NOT NULL,              -- 银行流水号
    goods_info     text        NOT NULL,              -- 单品信息
    file_id        bigint      NOT NULL,              -- the flow_files row that first had it
    line           integer     NOT NULL,
    first_date     date        NOT NULL,
    CONSTRAINT flow_uses_pkey PRIMARY KEY (stock_id, coupon_id, transaction_id, used_at)
);

-- One row per refund line, keyed and loaded like flow_uses.
CREATE TABLE flow_refunds (
    stock_id       text        COLLATE "C" NOT NULL,
    coupon_id      text        COLLATE "C" NOT NULL,
    transaction_id text        COLLATE "C" NOT NULL,
    refunded_at    timestamptz NOT NULL,              -- 退款时间
    coupon_type    text        NOT NULL,
    amount         bigint      NOT NULL,              -- 优惠金额 refunded, fen
    order_amount   bigint      NOT NULL,
    trade_type     text        NOT NULL,
    consume_mchid  text        COLLATE "C" NOT NULL,
    device_no      text        NOT NULL,
    bank_serial_no text        NOT NULL,
    goods_info     text        NOT NULL,
    file_id        bigint      NOT NULL,
    line           integer     NOT NULL,
    first_date     date        NOT NULL,
    CONSTRAINT flow_refunds_pkey PRIMARY KEY (stock_id, coupon_id, transaction_id, refunded_at)
);

-- COUPON.USE callbacks, decrypted, one row per notification id (WeChat Pay
-- repeats deliveries). A second source of redemptions beside the use-flow.
CREATE TABLE coupon_use_callbacks (
    notification_id     text        COLLATE "C" PRIMARY KEY CHECK (notification_id <> '' AND length(notification_id) <= 128),
    event_type          text        NOT NULL,
    event_time          timestamptz,                  -- the notification's create_time
    summary             text        NOT NULL,
    stock_id            text        COLLATE "C" NOT NULL,
    coupon_id           text        COLLATE "C" NOT NULL CHECK (coupon_id <> ''),
    stock_creator_mchid text        COLLATE "C" NOT NULL,
    coupon_name         text        NOT NULL,
    status              text        NOT NULL,
    coupon_type         text        NOT NULL,
    no_cash             boolean     NOT NULL,
    coupon_amount       bigint,                       -- fen
    transaction_minimum bigint,                       -- fen
    coupon_created_at   timestamptz,
    consume_time        timestamptz,
    consume_mchid       text        COLLATE "C" NOT NULL,
    transaction_id      text        COLLATE "C" NOT NULL,
    coupon              jsonb       NOT NULL,         -- the decrypted coupon, as decoded
    received_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX coupon_use_callbacks_coupon ON coupon_use_callbacks (stock_id, coupon_id);

-- migration: 3 daemon
-- Every run of a scheduled job. Singleton jobs (reconcile, housekeeping)
-- claim their activation: at most one row per (job, scheduled_for), which is
-- how several instances agree that a day's reconcile ran once.
CREATE TABLE job_runs (
    id            bigserial   PRIMARY KEY,
    job           text        NOT NULL,
    instance      text        NOT NULL,
    scheduled_for timestamptz NOT NULL,
    singleton     boolean     NOT NULL DEFAULT false,
    catch_up      boolean     NOT NULL DEFAULT false,
    started_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz,
    result        text        NOT NULL DEFAULT 'running'
                  CHECK (result IN ('running', 'success', 'failure', 'panic', 'interrupted')),
    counts        jsonb       NOT NULL DEFAULT '{}',
    error         text
);
CREATE UNIQUE INDEX job_runs_singleton_slot ON job_runs (job, scheduled_for) WHERE singleton;
CREATE INDEX job_runs_job ON job_runs (job, started_at DESC);

-- Live issuer processes, for sharing the merchant's rate budget: each caps
-- its limiter at the merchant's max divided by the instances whose
-- heartbeat is fresh.
CREATE TABLE instances (
    id           text        PRIMARY KEY,
    mchid        text        NOT NULL,
    hostname     text        NOT NULL,
    pid          integer     NOT NULL,
    version      text        NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX instances_mchid ON instances (mchid, heartbeat_at);

-- migration: 4 reserved
-- migration: 5 reserved
-- migration: 6 reserved
-- migration: 7 reserved
-- migration: 8 reserved
-- migration: 9 reserved
-- migration: 10 reserved
-- migration: 11 ratelimit
-- The hidden rate limit of each merchant as its limiters last measured it
-- (requests/s, the whole merchant's, not one instance's share): a new pass
-- or a restarted daemon starts near it instead of at issue.rate.initial.
CREATE TABLE rate_estimates (
    mchid      text             PRIMARY KEY,
    estimate   double precision NOT NULL CHECK (estimate > 0),
    updated_at timestamptz      NOT NULL DEFAULT now()
);
