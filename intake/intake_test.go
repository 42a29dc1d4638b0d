package intake_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/intake"
	"github.com/issuer-dev/issuer/internal/dbtest"
)

const testMchID = "1900000109"

type testBundle struct {
	db *sqlx.DB
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	return &testBundle{db: dbtest.New(t).DB}
}

func opts(kind string, rejects *[]intake.Reject) intake.Options {
	return intake.Options{
		StockID: "9856000", Kind: kind, MchID: testMchID, AppID: "wx233544546545989",
		Location: time.UTC, MaxRejects: 100,
		OnReject: func(r intake.Reject) { *rejects = append(*rejects, r) },
	}
}

func importFile(t *testing.T, db *sqlx.DB, name string, o intake.Options) (*intake.Report, error) {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	require.NoError(t, err)
	defer f.Close()
	o.Source = name
	return intake.Import(context.Background(), db, f, o)
}

func countRows(t *testing.T, db *sqlx.DB) (batches, recipients int) {
	t.Helper()
	require.NoError(t, db.Get(&batches, `SELECT count(*) FROM batches`))
	require.NoError(t, db.Get(&recipients, `SELECT count(*) FROM recipients`))
	return
}

func reasons(rs []intake.Reject) map[int]string {
	m := map[int]string{}
	for _, r := range rs {
		m[r.Line] = r.Reason
	}
	return m
}

func TestImport(t *testing.T) {
	t.Parallel()

	tests := []struct {
		file     string
		kind     string
		want     intake.Report  // BatchID, SHA256 ignored
		rejects  map[int]string // line -> substring of the reason
		openids  []string       // accepted, in line order
		encoding string
	}{
		{file: "utf8_lf.csv", want: intake.Report{Lines: 3, Accepted: 3}, openids: []string{"oA1_x-1", "oA2", "oA3"}, encoding: "utf-8"},
		{file: "utf8_bom_crlf.csv", want: intake.Report{Lines: 2, Accepted: 2}, openids: []string{"oB1", "oB2"}, encoding: "utf-8"},
		{file: "blank_lines.csv", want: intake.Report{Lines: 6, Accepted: 2, Blank: 4}, openids: []string{"oC1", "oC2"}},
		{file: "duplicates.csv", want: intake.Report{Lines: 6, Accepted: 3, Duplicates: 3}, openids: []string{"oD1", "oD2", "oD3"}},
		{
			file: "malformed.csv", want: intake.Report{Lines: 10, Accepted: 2, Rejected: 8},
			rejects: map[int]string{
				3:  "bare quote",
				4:  "has 1 fields, the header has 2",
				5:  `openid "oE 4" contains " "`,
				6:  `coupon_value "-3" is not a positive whole number`,
				7:  `coupon_value "1.5"`,
				8:  "after closing quote",
				9:  "openid is 129 characters, at most 128 allowed",
				10: "has 3 fields",
			},
			openids: []string{"oE1", "oE10"},
		},
		{
			file: "product.csv", kind: intake.KindProduct, want: intake.Report{Lines: 5, Accepted: 2, Rejected: 3},
			rejects: map[int]string{4: "MEMBER needs a member_card_id", 5: `coupon_code "multi\nline" contains "\n"`, 7: `coupon_type "GOLD"`},
			openids: []string{"oF1", "oF2"},
		},
		{
			file: "out_request_no.csv", want: intake.Report{Lines: 5, Accepted: 2, Rejected: 2, Duplicates: 1},
			rejects: map[int]string{3: `out_request_no "R1" repeats line 2`, 6: `out_request_no "bad/no" contains "/"`},
			openids: []string{"oH1", "oH3"},
		},
		{file: "unterminated.csv", want: intake.Report{Lines: 2, Accepted: 1, Rejected: 1}, rejects: map[int]string{3: "unterminated quoted field"}, openids: []string{"oI1"}},
		{
			file: "gbk.csv", want: intake.Report{Lines: 3, Accepted: 2, Rejected: 1}, encoding: "gbk",
			rejects: map[int]string{3: `openid "张三" contains "张"`}, openids: []string{"oK1", "oK2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			kind := tt.kind
			if kind == "" {
				kind = intake.KindFavor
			}
			var rejects []intake.Reject
			rep, err := importFile(t, b.db, tt.file, opts(kind, &rejects))
			require.NoError(t, err)
			require.NotZero(t, rep.BatchID)
			require.Equal(t, rep.Lines, rep.Accepted+rep.Duplicates+rep.Rejected+rep.Blank, "every line accounted for")
			got := *rep
			got.BatchID, got.SHA256, got.Encoding, got.Status = 0, "", "", ""
			got.AmountFen, got.Unvalued = 0, 0 // the money: TestImportGuards
			require.Equal(t, tt.want, got)
			if tt.encoding != "" {
				require.Equal(t, tt.encoding, rep.Encoding)
			}
			require.Len(t, rejects, len(tt.rejects))
			gotReasons := reasons(rejects)
			for line, want := range tt.rejects {
				require.Contains(t, gotReasons[line], want, "line %d", line)
			}
			var openids []string
			require.NoError(t, b.db.Select(&openids, `SELECT openid FROM recipients WHERE batch_id = $1 ORDER BY source_line`, rep.BatchID))
			require.Equal(t, tt.openids, openids)

			var stored intake.Report
			require.NoError(t, b.db.Get(&stored, `SELECT lines, accepted, duplicates, rejected, blank FROM batches WHERE id = $1`, rep.BatchID))
			require.Equal(t, tt.want, stored)
		})
	}
}

// sqlx maps the lowercase column names onto Report's fields by name.
func init() { _ = sqlx.NameMapper }

func TestImportFatal(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name, file, body, kind, want string
	}{
		{name: "UnknownColumn", file: "unknown_column.csv", want: `unknown_column.csv:1: header: unknown column "open_id" in column 1; accepted columns for favor stocks: openid, coupon_minimum, coupon_value, out_request_no`},
		{name: "UnknownColumnGBK", file: "gbk_unknown_column.csv", want: `header: unknown column "备注" in column 2`},
		// What a new user's file usually is instead of a CSV with a header.
		{name: "NoHeader", file: "no_header.csv", want: `no_header.csv:1: header: the first line "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o" looks like a recipient, not a header: the file needs a header line`},
		{name: "Semicolons", file: "semicolons.csv", want: `header: the columns are separated by semicolons, not commas: save the file as CSV (comma-separated, in Excel "CSV UTF-8 (逗号分隔)")`},
		{name: "Tabs", file: "tabs.csv", want: `header: the columns are separated by tabs, not commas`},
		{name: "UTF16", file: "utf16.txt", want: `the file is UTF-16 (what Excel saves as "Unicode text" / Unicode 文本), not CSV: in Excel choose File › Save As › "CSV UTF-8 (逗号分隔)"`},
		{name: "UTF16NoBOM", file: "utf16_nobom.txt", want: `the file is UTF-16`},
		{name: "Empty", body: "", want: "empty file"},
		{name: "OnlyBlank", body: "\n\n", want: "empty file"},
		{name: "NoOpenID", body: "coupon_value\n1\n", want: "no openid column"},
		{name: "DuplicateColumn", body: "openid,OpenID\n", want: `column "openid" appears twice`},
		{name: "WrongKindColumn", body: "openid,coupon_code\n", want: `column "coupon_code" applies to product stocks, not favor`},
		{name: "HeaderOnly", body: "openid\n", want: "no recipients in file"},
		{name: "BadEncodingFlag", body: "openid\no1\n", want: `unknown encoding "latin1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			var rejects []intake.Reject
			o := opts(intake.KindFavor, &rejects)
			if tt.name == "BadEncodingFlag" {
				o.Encoding = "latin1"
			}
			var err error
			if tt.file != "" {
				_, err = importFile(t, b.db, tt.file, o)
			} else {
				o.Source = "in.csv"
				_, err = intake.Import(context.Background(), b.db, strings.NewReader(tt.body), o)
			}
			var fe *intake.FatalError
			require.ErrorAs(t, err, &fe)
			require.Contains(t, err.Error(), tt.want)
			batches, recipients := countRows(t, b.db)
			require.Zero(t, batches)
			require.Zero(t, recipients)
		})
	}
}

func TestImportTooManyRejectsStoresNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var rejects []intake.Reject
	o := opts(intake.KindFavor, &rejects)
	o.MaxRejects = 0
	rep, err := importFile(t, b.db, "malformed.csv", o)
	require.ErrorIs(t, err, intake.ErrTooManyRejects)
	require.Equal(t, 8, rep.Rejected, "the report is complete")
	require.Len(t, rejects, 8)
	require.Equal(t, rep.Lines, rep.Accepted+rep.Duplicates+rep.Rejected+rep.Blank)
	batches, recipients := countRows(t, b.db)
	require.Zero(t, batches)
	require.Zero(t, recipients)
}

func TestImportOutRequestNo(t *testing.T) {
	t.Parallel()

	t.Run("GeneratedUniqueAndValid", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		var body strings.Builder
		body.WriteString("openid\n")
		for i := range 2000 {
			body.WriteString("o" + strings.Repeat("x", i%5) + "_" + itoa(i) + "\n")
		}
		var rejects []intake.Reject
		o := opts(intake.KindFavor, &rejects)
		o.Guards.AllowDuplicate, o.Guards.AllowRepeats = true, true // the same list twice, on purpose
		for range 2 {                                               // two batches: numbers stay unique across them
			rep, err := intake.Import(context.Background(), b.db, strings.NewReader(body.String()), o)
			require.NoError(t, err)
			require.Equal(t, 2000, rep.Accepted)
		}
		var nos []string
		require.NoError(t, b.db.Select(&nos, `SELECT out_request_no FROM recipients`))
		require.Len(t, nos, 4000)
		seen := map[string]bool{}
		format := regexp.MustCompile(`^` + testMchID + time.Now().UTC().Format("20060102") + `\d{10}$`)
		for _, no := range nos {
			require.Regexp(t, format, no)
			require.False(t, seen[no], "duplicate %s", no)
			seen[no] = true
		}
	})

	t.Run("SuppliedAlreadyUsed", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		var rejects []intake.Reject
		_, err := intake.Import(context.Background(), b.db, strings.NewReader("openid,out_request_no\no1,R1\n"), opts(intake.KindFavor, &rejects))
		require.NoError(t, err)
		rep, err := intake.Import(context.Background(), b.db, strings.NewReader("openid,out_request_no\no2,R1\no3,R3\no2,R4\n"), opts(intake.KindFavor, &rejects))
		require.NoError(t, err)
		require.Equal(t, intake.Report{Lines: 3, Accepted: 1, Rejected: 1, Duplicates: 1}, stripIDs(rep))
		require.Len(t, rejects, 1)
		require.Equal(t, 2, rejects[0].Line)
		require.Contains(t, rejects[0].Reason, `out_request_no "R1" is already used by batch`)
	})
}

func stripIDs(r *intake.Report) intake.Report {
	c := *r
	c.BatchID, c.SHA256, c.Encoding, c.Status, c.ApprovalReason = 0, "", "", "", ""
	c.AmountFen, c.Unvalued = 0, 0 // the money: TestImportGuards
	return c
}

func itoa(i int) string { return strconv.Itoa(i) }

// A UTF-8 file whose first 64 KiB are clean but which has GBK bytes later
// is still read as UTF-8; the bad line is rejected with a hint.
func TestImportLateInvalidUTF8(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var buf bytes.Buffer
	buf.WriteString("openid\n")
	for i := 0; buf.Len() < 70<<10; i++ {
		buf.WriteString("o" + itoa(i%10000) + strings.Repeat("a", 20) + itoa(i/10000) + "\n")
	}
	buf.Write([]byte{'o', 0xd5, 0xc5, '\n'})
	var rejects []intake.Reject
	rep, err := intake.Import(context.Background(), b.db, &buf, opts(intake.KindFavor, &rejects))
	require.NoError(t, err)
	require.Equal(t, "utf-8", rep.Encoding)
	require.Equal(t, 1, rep.Rejected)
	require.Contains(t, rejects[0].Reason, "--encoding gbk")
}

// Cancelling in the middle of the COPY leaves nothing behind.
func TestImportCancelledMidCopy(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	go func() {
		_, _ = io.WriteString(pw, "openid\n")
		for i := range 5000 {
			_, _ = io.WriteString(pw, "o"+itoa(i)+"\n")
		}
		cancel()
		_, _ = io.WriteString(pw, "oLast\n")
		pw.Close()
	}()
	var rejects []intake.Reject
	_, err := intake.Import(ctx, b.db, pr, opts(intake.KindFavor, &rejects))
	require.Error(t, err)
	require.True(t, errors.Is(err, context.Canceled) || strings.Contains(err.Error(), "cancel"), "got %v", err)
	batches, recipients := countRows(t, b.db)
	require.Zero(t, batches)
	require.Zero(t, recipients)
}
