#!/usr/bin/env node
// The phi4 command. The TypeScript sources are compiled to dist/ by `npm install` (prepare) or `npm run build:ts`.
import { main } from "../dist/cli/main.js";

process.exitCode = await main(process.argv.slice(2));
