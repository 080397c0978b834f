/* gid: new global transaction ids, as DTM's NewGid hands them out. */
#ifndef CDTM_GID_H
#define CDTM_GID_H

/* Characters in a gid from gid_new(). */
#define GID_LEN 22

/* Writes a new gid, NUL-terminated, to out: 128 random bits in base 57 with
 * shortuuid's alphabet, like DTM's NewGid. Two gids are equal only by a
 * chance of 2^-128, so a program may make its own instead of asking the
 * coordinator. */
void gid_new(char out[GID_LEN + 1]);

#endif
