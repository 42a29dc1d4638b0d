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
-- The claim path: pending rows due now, oldest first (all batches, or one).
CREATE INDEX recipients_claim ON recipients (next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX recipients_claim_batch ON recipients (batch_id, next_attempt_at, id) WHERE status = 'pending';
-- Lease rescue: in-flight rows whose worker died.
CREATE INDEX recipients_lease ON recipients (lease_expires_at) WHERE status = 'in_flight';
CREATE INDEX recipients_coupon ON recipients (coupon_id) WHERE coupon_id IS NOT NULL;
CREATE INDEX recipients_batch_status ON recipients (batch_id, status);
