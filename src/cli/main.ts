#!/usr/bin/env node
/**
 * `dpopkit`: the command line's entry. The commands' own packages (commander, and for `serve`
 * the server side) are optional peer dependencies of the library, so they are loaded here,
 * after the one-line failure reporter is in place: a missing one is named with the command to
 * install it instead of a stack trace.
 *
 * @module
 */
import { fail } from './output.js';

import('./program.js')
  .then(({ run }) => run(process.argv))
  .catch(fail);
