#!/usr/bin/env bash
# report-screenshots.sh: renders the report package's test workbooks with
# LibreOffice, as an analyst would print them, and writes PNGs to docs/:
# the reconciliation Summary, a batch's Summary and the 说明 sheet. Needs
# soffice (Debian's libreoffice-calc), pdftoppm (poppler-utils) and a CJK
# font (fonts-noto-cjk); installs them with apt-get when missing and root.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/need.sh soffice libreoffice-calc
scripts/need.sh pdftoppm poppler-utils
if ! fc-list :lang=zh | grep . >/dev/null; then
  if [ "$(id -u)" = 0 ]; then apt-get install -y -qq fonts-noto-cjk >/dev/null; else echo "report-screenshots: install fonts-noto-cjk" >&2; exit 1; fi
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
scripts/with-postgres.sh go test -count=1 -run 'TestReportXLSX$' ./report/ -args -xlsx-out "$work"
soffice --headless -env:UserInstallation="file://$work/lo" --convert-to pdf --outdir "$work" "$work/reconcile.xlsx" "$work/batch.xlsx" >/dev/null
mkdir -p docs
# The Summary is one landscape page: its top part holds the tables and charts.
pdftoppm -png -singlefile -r 200 -f 1 -l 1 -x 120 -y 160 -W 1300 -H 620 "$work/reconcile.pdf" docs/report-xlsx-reconcile
pdftoppm -png -singlefile -r 200 -f 1 -l 1 -x 120 -y 160 -W 1300 -H 620 "$work/batch.pdf" docs/report-xlsx-batch
pages=$(pdfinfo "$work/batch.pdf" | awk '/^Pages:/ {print $2}')
for i in $(seq 1 "$pages"); do
  if pdftotext -f "$i" -l "$i" "$work/batch.pdf" - | grep "各列说明" >/dev/null; then
    pdftoppm -png -singlefile -r 110 -f "$i" -l "$i" -x 0 -y 40 -W 1200 -H 520 "$work/batch.pdf" docs/report-xlsx-guide
    break
  fi
done
ls -l docs/report-xlsx-*.png
