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

-- migration: 4 accounting
-- cancelled: a row of a cancelled batch that WeChat Pay never issued
-- (terminal). A row whose last answer did not say what happened is "in
-- doubt" (outcome unknown or unclassified, or a lease that expired under a
-- send); cancelling never freezes such a row as pending: it goes to review
-- and is settled by asking WeChat Pay which coupons the user holds.
ALTER TABLE recipients DROP CONSTRAINT recipients_status_check;
ALTER TABLE recipients ADD CONSTRAINT recipients_status_check
    CHECK (status IN ('pending', 'in_flight', 'issued', 'failed', 'review', 'cancelled'));
-- When the first send of the row was attempted: with last_attempt_at it
-- bounds when a coupon WeChat Pay created for this row can have been created.
ALTER TABLE recipients ADD COLUMN first_attempt_at timestamptz;
UPDATE recipients SET first_attempt_at = created_at WHERE attempts > 0;
-- The one definition of "in doubt": the last answer did not say whether
-- WeChat Pay issued the coupon. Such a row is never counted as not issued.
ALTER TABLE recipients ADD COLUMN in_doubt boolean NOT NULL
    GENERATED ALWAYS AS (status IN ('pending', 'review') AND coalesce(outcome, '') IN ('unknown', 'unclassified')) STORED;
-- What settlement found (evidence, or why a person must look), beside
-- WeChat Pay's own last code and message.
ALTER TABLE recipients ADD COLUMN note text;
-- Rows waiting for a person or a settlement query, by batch.
CREATE INDEX recipients_review ON recipients (batch_id, id) WHERE status = 'review';

-- (5–15 are placeholders so that 16 applies on this branch; at merge the
-- real sections take their place and these lines go.)

-- migration: 5 console
-- Accounts of the console and the HTTP API. A name is what the audit log
-- and batch approvals show, so it is plain and never reused for someone
-- else: disabling keeps the row.
CREATE TABLE users (
    id            bigserial   PRIMARY KEY,
    name          text        COLLATE "C" NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$'),
    role          text        NOT NULL CHECK (role IN ('analyst', 'operator', 'admin')),
    password_hash text        NOT NULL,              -- PHC string: $argon2id$v=19$m=…,t=…,p=…$salt$hash
    disabled      boolean     NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL,
    last_login_at timestamptz
);

-- Console sessions. Only the SHA-256 of the cookie's 256-bit id is kept, so
-- a copy of this table logs nobody in. A session ends after session_idle
-- without a request or at expires_at (session_max after login), whichever
-- comes first; logout and disabling the user delete it.
CREATE TABLE sessions (
    id_hash      bytea       PRIMARY KEY CHECK (length(id_hash) = 32),
    user_id      bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    address      text        NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

-- API tokens, shown once and kept as SHA-256. prefix identifies a token in
-- listings without revealing it.
CREATE TABLE api_tokens (
    id           bigserial   PRIMARY KEY,
    user_id      bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    hash         bytea       NOT NULL UNIQUE CHECK (length(hash) = 32),
    prefix       text        NOT NULL,
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

-- Failed logins per account name and per client address; a key that
-- reaches its limit is locked until locked_until, for longer each time.
CREATE TABLE login_throttle (
    kind            text        NOT NULL CHECK (kind IN ('account', 'address')),
    key             text        COLLATE "C" NOT NULL,
    failures        integer     NOT NULL DEFAULT 0,
    last_failure_at timestamptz NOT NULL,
    locked_until    timestamptz,
    PRIMARY KEY (kind, key)
);

-- Every state-changing act, by whom and from where, including the refused
-- and failed ones. Rows are only ever inserted.
CREATE TABLE audit_log (
    id       bigserial   PRIMARY KEY,
    at       timestamptz NOT NULL,
    actor    text        NOT NULL,
    role     text        NOT NULL,
    action   text        NOT NULL,
    batch_id bigint,
    stock_id text        COLLATE "C" NOT NULL DEFAULT '',
    source   text        NOT NULL,
    outcome  text        NOT NULL CHECK (outcome IN ('ok', 'denied', 'error')),
    message  text        NOT NULL DEFAULT '',
    detail   jsonb
);
CREATE INDEX audit_log_at ON audit_log (at DESC, id DESC);
CREATE INDEX audit_log_actor ON audit_log (actor, at DESC);
CREATE INDEX audit_log_batch ON audit_log (batch_id, at DESC) WHERE batch_id IS NOT NULL;

-- migration: 6 counters
-- Recipients by batch and status, kept exact by statement-level triggers
-- on recipients, so that pages and APIs never count a batch's rows: a
-- statement's old rows count -1 and its new rows +1 under their (batch,
-- status), summed per statement (no join: a million-row statement costs
-- one hash aggregate). Counter rows are touched in (batch_id, status)
-- order, so concurrent statements cannot deadlock on them.
CREATE TABLE batch_counts (
    batch_id bigint NOT NULL,
    status   text   NOT NULL,
    n        bigint NOT NULL DEFAULT 0,
    in_doubt bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (batch_id, status)
);
INSERT INTO batch_counts (batch_id, status, n, in_doubt)
    SELECT batch_id, status, count(*), count(*) FILTER (WHERE in_doubt) FROM recipients GROUP BY 1, 2;

CREATE FUNCTION batch_counts_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO batch_counts AS c (batch_id, status, n, in_doubt)
            SELECT batch_id, status, count(*), count(*) FILTER (WHERE in_doubt)
            FROM new_rows GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (batch_id, status) DO UPDATE SET n = c.n + excluded.n, in_doubt = c.in_doubt + excluded.in_doubt;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO batch_counts AS c (batch_id, status, n, in_doubt)
            SELECT batch_id, status, -count(*), -count(*) FILTER (WHERE in_doubt)
            FROM old_rows GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (batch_id, status) DO UPDATE SET n = c.n + excluded.n, in_doubt = c.in_doubt + excluded.in_doubt;
    ELSE
        INSERT INTO batch_counts AS c (batch_id, status, n, in_doubt)
            SELECT batch_id, status, sum(dn), sum(dd) FROM (
                SELECT batch_id, status, -1 AS dn, -(in_doubt::int) AS dd FROM old_rows
                UNION ALL
                SELECT batch_id, status, 1, in_doubt::int FROM new_rows
            ) d
            GROUP BY 1, 2 HAVING sum(dn) <> 0 OR sum(dd) <> 0 ORDER BY 1, 2
        ON CONFLICT (batch_id, status) DO UPDATE SET n = c.n + excluded.n, in_doubt = c.in_doubt + excluded.in_doubt;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER recipients_count_insert AFTER INSERT ON recipients
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION batch_counts_apply();
CREATE TRIGGER recipients_count_update AFTER UPDATE ON recipients
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION batch_counts_apply();
CREATE TRIGGER recipients_count_delete AFTER DELETE ON recipients
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION batch_counts_apply();

-- migration: 7 guards
-- Money guards, enforced where issuing happens (the claim and the queue's
-- state changes), so that no front end and no second instance can go
-- around them.
-- awaiting_approval: never claimed until an operator other than the
-- uploader approves it; rejected: ended by an operator, nothing sent.
ALTER TABLE batches DROP CONSTRAINT batches_status_check;
ALTER TABLE batches ADD CONSTRAINT batches_status_check CHECK (status IN
    ('pending', 'awaiting_approval', 'running', 'paused', 'halted', 'completed', 'cancelled', 'rejected'));
ALTER TABLE batches
    ADD COLUMN uploaded_by text NOT NULL DEFAULT '',
    -- Face value of the accepted rows at import, fen: each row's
    -- coupon_value, else the stock's face value (face_value_fen).
    ADD COLUMN amount_fen bigint NOT NULL DEFAULT 0,
    ADD COLUMN face_value_fen bigint CHECK (face_value_fen > 0),
    ADD COLUMN approved_by text,
    ADD COLUMN approved_at timestamptz,
    ADD COLUMN approved_amount_fen bigint,
    ADD COLUMN rejected_by text,
    ADD COLUMN rejected_at timestamptz,
    ADD COLUMN reject_reason text,
    -- Spend cap: face value reserved by rows being sent, in doubt or issued
    -- never exceeds it; the CHECK makes that true whatever the caller.
    ADD COLUMN max_amount_fen bigint CHECK (max_amount_fen > 0),
    ADD COLUMN reserved_fen bigint NOT NULL DEFAULT 0 CHECK (reserved_fen >= 0),
    ADD COLUMN start_at timestamptz,
    -- Daily send window in window_tz, minutes after midnight; start > end
    -- spans midnight.
    ADD COLUMN window_start smallint CHECK (window_start BETWEEN 0 AND 1439),
    ADD COLUMN window_end smallint CHECK (window_end BETWEEN 0 AND 1439),
    ADD COLUMN window_tz text,
    ADD COLUMN priority integer NOT NULL DEFAULT 0,
    ADD COLUMN repeats integer NOT NULL DEFAULT 0,
    -- Imported with --paused: approval leaves it paused, not pending.
    ADD COLUMN start_paused boolean NOT NULL DEFAULT false,
    ADD CONSTRAINT batches_cap_check CHECK (max_amount_fen IS NULL OR reserved_fen <= max_amount_fen),
    ADD CONSTRAINT batches_window_check CHECK ((window_start IS NULL) = (window_end IS NULL) AND (window_start IS NULL) = (window_tz IS NULL));
CREATE INDEX batches_file ON batches (stock_id, source_sha256);
-- The face value this row holds reserved against its batch's cap.
ALTER TABLE recipients ADD COLUMN reserved_fen bigint NOT NULL DEFAULT 0 CHECK (reserved_fen >= 0);

-- The one definition of "in doubt", as a function the queue's statements
-- share with the generated column.
CREATE FUNCTION recipient_in_doubt(status text, outcome text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN status IN ('pending', 'review') AND coalesce(outcome, '') IN ('unknown', 'unclassified');
ALTER TABLE recipients DROP COLUMN in_doubt;
ALTER TABLE recipients ADD COLUMN in_doubt boolean NOT NULL GENERATED ALWAYS AS (recipient_in_doubt(status, outcome)) STORED;

-- Minutes after midnight of t in time zone tz.
CREATE FUNCTION minute_of_day(t timestamptz, tz text) RETURNS integer
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN (extract(hour FROM t AT TIME ZONE tz) * 60 + extract(minute FROM t AT TIME ZONE tz))::integer;

-- Whether a batch may be claimed at t: runnable, started, inside its window.
CREATE FUNCTION batch_open(status text, start_at timestamptz, window_start smallint, window_end smallint,
                           window_tz text, t timestamptz) RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN status IN ('pending', 'running')
        AND (start_at IS NULL OR start_at <= t)
        AND (window_start IS NULL OR window_start = window_end OR (
            CASE WHEN window_start < window_end
                THEN minute_of_day(t, window_tz) >= window_start AND minute_of_day(t, window_tz) < window_end
                ELSE minute_of_day(t, window_tz) >= window_start OR minute_of_day(t, window_tz) < window_end END));

-- migration: 8 ratelimit
-- The hidden rate limit of each merchant as its limiters last measured it
-- (requests/s, the whole merchant's, not one instance's share): a new pass
-- or a restarted daemon starts near it instead of at issue.rate.initial.
CREATE TABLE rate_estimates (
    mchid      text             PRIMARY KEY,
    estimate   double precision NOT NULL CHECK (estimate > 0),
    updated_at timestamptz      NOT NULL DEFAULT now()
);

-- migration: 9 outcomes
-- Recipients by batch, status and last outcome ('' for rows never
-- answered), with the face value of those whose coupon_value is known and
-- the number of those whose is not (they are worth the batch's
-- face_value_fen, where known), kept exact by statement-level triggers
-- the way migration 6 kept batch_counts. A batch's page and the metrics
-- read its outcomes, its money and its rows in doubt (status and outcome
-- decide in_doubt) from here: counting a million-row batch's rows took a
-- quarter of a second per page view.
CREATE TABLE batch_outcome_counts (
    batch_id bigint NOT NULL,
    status   text   NOT NULL,
    outcome  text   NOT NULL,
    n        bigint NOT NULL DEFAULT 0,
    fen      bigint NOT NULL DEFAULT 0,
    unvalued bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (batch_id, status, outcome)
);
INSERT INTO batch_outcome_counts (batch_id, status, outcome, n, fen, unvalued)
    SELECT batch_id, status, coalesce(outcome, ''), count(*), coalesce(sum(coupon_value), 0), count(*) FILTER (WHERE coupon_value IS NULL)
    FROM recipients GROUP BY 1, 2, 3;

CREATE FUNCTION batch_outcome_counts_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO batch_outcome_counts AS c (batch_id, status, outcome, n, fen, unvalued)
            SELECT batch_id, status, coalesce(outcome, ''), count(*), coalesce(sum(coupon_value), 0), count(*) FILTER (WHERE coupon_value IS NULL)
            FROM new_rows GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (batch_id, status, outcome) DO UPDATE SET n = c.n + excluded.n, fen = c.fen + excluded.fen, unvalued = c.unvalued + excluded.unvalued;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO batch_outcome_counts AS c (batch_id, status, outcome, n, fen, unvalued)
            SELECT batch_id, status, coalesce(outcome, ''), -count(*), -coalesce(sum(coupon_value), 0), -count(*) FILTER (WHERE coupon_value IS NULL)
            FROM old_rows GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (batch_id, status, outcome) DO UPDATE SET n = c.n + excluded.n, fen = c.fen + excluded.fen, unvalued = c.unvalued + excluded.unvalued;
    ELSE
        INSERT INTO batch_outcome_counts AS c (batch_id, status, outcome, n, fen, unvalued)
            SELECT batch_id, status, outcome, sum(dn), sum(df), sum(du) FROM (
                SELECT batch_id, status, coalesce(outcome, '') AS outcome, -1 AS dn, -coalesce(coupon_value, 0) AS df,
                    -(coupon_value IS NULL)::int AS du FROM old_rows
                UNION ALL
                SELECT batch_id, status, coalesce(outcome, ''), 1, coalesce(coupon_value, 0), (coupon_value IS NULL)::int FROM new_rows
            ) d
            GROUP BY 1, 2, 3 HAVING sum(dn) <> 0 OR sum(df) <> 0 OR sum(du) <> 0 ORDER BY 1, 2, 3
        ON CONFLICT (batch_id, status, outcome) DO UPDATE SET n = c.n + excluded.n, fen = c.fen + excluded.fen, unvalued = c.unvalued + excluded.unvalued;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER recipients_outcomes_insert AFTER INSERT ON recipients
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION batch_outcome_counts_apply();
CREATE TRIGGER recipients_outcomes_update AFTER UPDATE ON recipients
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION batch_outcome_counts_apply();
CREATE TRIGGER recipients_outcomes_delete AFTER DELETE ON recipients
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION batch_outcome_counts_apply();

-- A batch's sending rate (answers per second over the last minutes, by
-- each row's last attempt) reads a few minutes of this index instead of
-- every row of the batch.
CREATE INDEX recipients_batch_attempt ON recipients (batch_id, last_attempt_at) WHERE last_attempt_at IS NOT NULL;

-- batch_counts is batch_outcome_counts summed over outcome: a view of it
-- from now on, so that every write to recipients runs one set of counter
-- triggers instead of two.
DROP TRIGGER recipients_count_insert ON recipients;
DROP TRIGGER recipients_count_update ON recipients;
DROP TRIGGER recipients_count_delete ON recipients;
DROP FUNCTION batch_counts_apply();
DROP TABLE batch_counts;
CREATE VIEW batch_counts AS
    SELECT batch_id, status, sum(n)::bigint AS n,
        coalesce(sum(n) FILTER (WHERE recipient_in_doubt(status, outcome)), 0)::bigint AS in_doubt
    FROM batch_outcome_counts GROUP BY batch_id, status;

-- The claim takes rows that hold a reservation first; they are few.
CREATE INDEX recipients_claim_reserved ON recipients (batch_id, next_attempt_at, id) WHERE status = 'pending' AND reserved_fen > 0;

-- migration: 10 doubt
-- "In doubt" is a fact about a row's history, not about its last answer.
-- doubt_since is set by the first answer that did not say what became of
-- the row's out_request_no (timeout, reset, 5xx, an unsigned or
-- unclassified answer, a lease that expired under a send) and is cleared
-- only by an answer that names the coupon (issued) or by settlement by
-- query. A later 429, halt or refusal says nothing about the earlier send,
-- so it leaves the row in doubt: the row keeps its spend-cap reservation,
-- a refusal sends it to review instead of failed, and a cancel seals it
-- to review. recipient_in_doubt is the one definition.
ALTER TABLE recipients ADD COLUMN doubt_since timestamptz;
-- Until now only the last outcome was kept. Rows in doubt by it stay in
-- doubt; so does every row in review (all came from such an answer), and
-- every row still to do (pending, in flight) with a counted attempt: it
-- had an answer that did not say what happened since it was last settled
-- (throttles, halts, releases and the daily limit give their attempt
-- back; a settlement resets attempts to 0).
UPDATE recipients SET doubt_since = coalesce(last_attempt_at, first_attempt_at, updated_at)
    WHERE in_doubt OR status = 'review' OR (status IN ('pending', 'in_flight') AND attempts > 0);

DROP VIEW batch_counts;
ALTER TABLE recipients DROP COLUMN in_doubt;
DROP FUNCTION recipient_in_doubt(text, text);
CREATE FUNCTION recipient_in_doubt(status text, doubt_since timestamptz) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN status IN ('pending', 'review') AND doubt_since IS NOT NULL;
ALTER TABLE recipients ADD COLUMN in_doubt boolean NOT NULL GENERATED ALWAYS AS (recipient_in_doubt(status, doubt_since)) STORED;

-- The counters gain the doubt flag as a key: outcome no longer decides it.
ALTER TABLE batch_outcome_counts DROP CONSTRAINT batch_outcome_counts_pkey;
ALTER TABLE batch_outcome_counts ADD COLUMN doubt boolean NOT NULL DEFAULT false;
TRUNCATE batch_outcome_counts;
INSERT INTO batch_outcome_counts (batch_id, status, outcome, doubt, n, fen, unvalued)
    SELECT batch_id, status, coalesce(outcome, ''), in_doubt, count(*), coalesce(sum(coupon_value), 0), count(*) FILTER (WHERE coupon_value IS NULL)
    FROM recipients GROUP BY 1, 2, 3, 4;
ALTER TABLE batch_outcome_counts ADD PRIMARY KEY (batch_id, status, outcome, doubt);

CREATE OR REPLACE FUNCTION batch_outcome_counts_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO batch_outcome_counts AS c (batch_id, status, outcome, doubt, n, fen, unvalued)
            SELECT batch_id, status, coalesce(outcome, ''), in_doubt, count(*), coalesce(sum(coupon_value), 0), count(*) FILTER (WHERE coupon_value IS NULL)
            FROM new_rows GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
        ON CONFLICT (batch_id, status, outcome, doubt) DO UPDATE SET n = c.n + excluded.n, fen = c.fen + excluded.fen, unvalued = c.unvalued + excluded.unvalued;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO batch_outcome_counts AS c (batch_id, status, outcome, doubt, n, fen, unvalued)
            SELECT batch_id, status, coalesce(outcome, ''), in_doubt, -count(*), -coalesce(sum(coupon_value), 0), -count(*) FILTER (WHERE coupon_value IS NULL)
            FROM old_rows GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
        ON CONFLICT (batch_id, status, outcome, doubt) DO UPDATE SET n = c.n + excluded.n, fen = c.fen + excluded.fen, unvalued = c.unvalued + excluded.unvalued;
    ELSE
        INSERT INTO batch_outcome_counts AS c (batch_id, status, outcome, doubt, n, fen, unvalued)
            SELECT batch_id, status, outcome, doubt, sum(dn), sum(df), sum(du) FROM (
                SELECT batch_id, status, coalesce(outcome, '') AS outcome, in_doubt AS doubt, -1 AS dn, -coalesce(coupon_value, 0) AS df,
                    -(coupon_value IS NULL)::int AS du FROM old_rows
                UNION ALL
                SELECT batch_id, status, coalesce(outcome, ''), in_doubt, 1, coalesce(coupon_value, 0), (coupon_value IS NULL)::int FROM new_rows
            ) d
            GROUP BY 1, 2, 3, 4 HAVING sum(dn) <> 0 OR sum(df) <> 0 OR sum(du) <> 0 ORDER BY 1, 2, 3, 4
        ON CONFLICT (batch_id, status, outcome, doubt) DO UPDATE SET n = c.n + excluded.n, fen = c.fen + excluded.fen, unvalued = c.unvalued + excluded.unvalued;
    END IF;
    RETURN NULL;
END $$;

CREATE VIEW batch_counts AS
    SELECT batch_id, status, sum(n)::bigint AS n, coalesce(sum(n) FILTER (WHERE doubt), 0)::bigint AS in_doubt
    FROM batch_outcome_counts GROUP BY batch_id, status;

-- migration: 11 security
-- API tokens expire (90 days after they are made, unless made for another
-- span). Tokens made before expiry existed run for 90 days from this
-- upgrade, so that none stops working the day issuer is upgraded.
ALTER TABLE api_tokens ADD COLUMN expires_at timestamptz;
UPDATE api_tokens SET expires_at = greatest(created_at, now()) + interval '90 days';
ALTER TABLE api_tokens ALTER COLUMN expires_at SET NOT NULL;

-- Failed logins count per account and client address together
-- ('account_address', key "<address> <name>": an address has no space) and
-- per address; no longer per account alone, which let anyone lock anyone
-- out from anywhere. An attempt counts before its password is checked.
DELETE FROM login_throttle WHERE kind = 'account';
ALTER TABLE login_throttle DROP CONSTRAINT login_throttle_kind_check;
ALTER TABLE login_throttle ADD CONSTRAINT login_throttle_kind_check CHECK (kind IN ('account_address', 'address'));

-- A stock's batches of a day, for the daily approval thresholds.
CREATE INDEX batches_stock_day ON batches (stock_id, created_at);

-- migration: 12 notifications
-- Every alert the daemon raised, as it was raised (whatever became of its
-- delivery), for the operations page; housekeeping prunes what is older
-- than alert.HistoryKept.
CREATE TABLE alert_history (
    id       bigserial   PRIMARY KEY,
    at       timestamptz NOT NULL,
    kind     text        NOT NULL,
    severity text        NOT NULL,
    title    text        NOT NULL DEFAULT '',
    batch_id bigint,
    stock_id text        COLLATE "C" NOT NULL DEFAULT '',
    mchid    text        COLLATE "C" NOT NULL DEFAULT '',
    message  text        NOT NULL,
    source   text        NOT NULL DEFAULT '',
    delivery text        NOT NULL DEFAULT ''
);
CREATE INDEX alert_history_at ON alert_history (at DESC, id DESC);

-- Today's issued coupons and their face value on the home page: the rows
-- issued since a moment, read from this index alone (issued_at is set once,
-- when a row becomes issued; rows never issued are not in it).
CREATE INDEX recipients_issued_at ON recipients (issued_at) INCLUDE (batch_id, coupon_value) WHERE issued_at IS NOT NULL;

-- When each account last looked at its notifications: the console's bell
-- counts the settlement verdicts since.
CREATE TABLE notification_seen (
    account text        PRIMARY KEY,
    seen_at timestamptz NOT NULL
);

-- migration: 13 console_money
-- The approver's comment on a batch they approved (a rejection has its
-- reason already).
ALTER TABLE batches ADD COLUMN approve_comment text CHECK (length(approve_comment) <= 2000);
