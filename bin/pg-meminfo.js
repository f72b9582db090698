#!/usr/bin/env node
import "../dist/sidecar/cli.js";
