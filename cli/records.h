/* SPDX-License-Identifier: Apache-2.0 */
/* camstream records (records.c): the record-stream commands of the command line. */
#ifndef CAMSTREAM_CLI_RECORDS_H
#define CAMSTREAM_CLI_RECORDS_H

/** Runs `camstream records ARGS...` (argv after "records"); returns the exit status. */
int cli_records(const char *endpoint, const char *region, int argc, char **argv);

#endif /* CAMSTREAM_CLI_RECORDS_H */
