// The application the Flipkart example deploys, as files committed to svn trunk: "everything
// you need to do a build should be in there" (seed, slide 41) — the page, a health check, a
// smoke test, unit tests and the Makefile that builds the package tree.

/** Path in trunk → content. */
export const appFiles = {
  'www/index.html': '<!doctype html>\n<title>foostat</title>\n<h1>foostat</h1>\n<div class="widget"></div>\n',
  // Run by the ssh target after every install, on the host: the page is there and is HTML, not PHP
  // (seed, slide 6: "Foostat widget is now displaying php instead of rendering html").
  'bin/health': [
    '#!/bin/sh',
    '# Health check of an installed foostat: the page is there and renders HTML, not PHP.',
    'set -e',
    'page="$(dirname "$0")/../www/index.html"',
    'grep -q "<h1>" "$page"',
    '! grep -q "<?php" "$page"',
    '',
  ].join('\n'),
  // The sandbox smoke test, run ON every sandbox host: dpkg knows the package and it is healthy.
  'bin/smoke': [
    '#!/bin/sh',
    '# Smoke test on a host: the package is fully installed and its health check passes.',
    'set -e',
    'dpkg -s foostat | grep -qx "Status: install ok installed"',
    '"$(dirname "$0")/health"',
    '',
  ].join('\n'),
  // The ENG unit tests, run on the runner against a checkout of the release's revision.
  'test/unit.sh': [
    '#!/bin/sh',
    '# Unit tests of the page: it has the widget placeholder and no server-side code.',
    'set -e',
    'grep -q "<h1>foostat</h1>" www/index.html',
    'grep -q "class=\\"widget\\"" www/index.html',
    '! grep -q "<?php" www/index.html',
    'echo "unit: 3 checks passed"',
    '',
  ].join('\n'),
  // Its settings, packaged on its own (foostat-conf, installed under /opt/foostat-conf): the
  // app's package says it needs it, so it reaches every ring first.
  'conf/foostat.conf': '# foostat settings\nwidget.refresh = 60\n',
  Makefile: [
    '# make: the package tree in out/ (installed under /opt/foostat). make conf: its settings in',
    '# out-conf/ (under /opt/foostat-conf). make test: the unit tests.',
    '.PHONY: build conf test',
    'build:',
    '\trm -rf out',
    '\tmkdir -p out/www out/bin',
    '\tcp www/index.html out/www/',
    '\tcp bin/health bin/smoke out/bin/',
    '\tchmod 755 out/bin/health out/bin/smoke',
    'conf:',
    '\trm -rf out-conf',
    '\tmkdir -p out-conf',
    '\tcp conf/foostat.conf out-conf/',
    'test:',
    '\tsh test/unit.sh',
    '',
  ].join('\n'),
};
