/* cli: what every program's main() does with its command line and with a
 * configuration it cannot use. */
#ifndef CDTM_CLI_H
#define CDTM_CLI_H

/* Prints "<prog>: <message>" on stderr and exits with status 2, the status of
 * a bad command line or config in every cdtm program. */
void cli_die(const char *prog, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

/* The config file of a program whose only option is `-f <file>` (go-zero's):
 * that file, or `def` when none is given. Anything else dies with a usage
 * line. */
const char *cli_config_path(const char *prog, int argc, char **argv, const char *def);

#endif
