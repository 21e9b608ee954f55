# azroute.m4 - autoconf macro to find libazroute.            -*- Autoconf -*-
#
# Installed to $(datadir)/aclocal by azroute. Copying and distribution of
# this file, with or without modification, are permitted in any medium
# without royalty provided the copyright notice and this notice are
# preserved. This file is offered as-is, without any warranty.
#
# serial 2
#
# AZROUTE_CHECK([MIN-VERSION], [ACTION-IF-FOUND], [ACTION-IF-NOT-FOUND])
# ---------------------------------------------------------------------
# Looks for libazroute (at least MIN-VERSION, "MAJOR.MINOR.PATCH", when
# given) and sets and AC_SUBSTs AZROUTE_CFLAGS and AZROUTE_LIBS.
#
#  1. pkg-config first: PKG_CHECK_MODULES([AZROUTE], [azroute >= MIN]).
#     Also sets AZROUTE_PLUGINDIR (AC_SUBSTed) from the .pc's plugindir.
#  2. Otherwise (no pkg-config, no azroute.pc, or a too old one) a plain
#     probe with the user's CPPFLAGS/LDFLAGS (or AZROUTE_CFLAGS and
#     AZROUTE_LIBS given on the configure command line):
#     AC_CHECK_HEADER([azroute/azroute.h]), AC_CHECK_LIB([azroute],
#     [azr_version]), and a compile test comparing AZR_VERSION_NUM with
#     MIN-VERSION.
#
# Sets the shell variable azroute_found to "yes" or "no", and
# azroute_found_by to "pkg-config" or "probe". Without ACTION-IF-NOT-FOUND
# a missing libazroute is an error (AC_MSG_ERROR) naming what was tried.
#
# Example (configure.ac):
#     m4_pattern_forbid([^AZROUTE_])
#     AZROUTE_CHECK([0.1.0])
# The first line makes autoreconf fail with "possibly undefined macro:
# AZROUTE_CHECK" when aclocal did not find this file (point ACLOCAL_PATH
# at the directory holding it), rather than leave the macro unexpanded
# for ./configure to stumble on ("syntax error near unexpected token").
# and (Makefile.am):
#     prog_CFLAGS = $(AZROUTE_CFLAGS)
#     prog_LDADD = $(AZROUTE_LIBS)
AC_DEFUN([AZROUTE_CHECK],
[AC_REQUIRE([AC_PROG_CC])dnl
dnl A configure.ac that says m4_pattern_forbid([^AZROUTE_]), so that a
dnl missing azroute.m4 fails autoreconf ("possibly undefined macro:
dnl AZROUTE_CHECK") instead of ./configure, may still use these.
m4_pattern_allow([^AZROUTE_(CFLAGS|LIBS|PLUGINDIR|PKG_ERRORS)$])dnl
AC_ARG_VAR([AZROUTE_CFLAGS], [C compiler flags for libazroute, overriding pkg-config])dnl
AC_ARG_VAR([AZROUTE_LIBS], [linker flags for libazroute, overriding pkg-config])dnl
azroute_min_version="m4_default([$1], [0.0.0])"
azroute_found=no
azroute_found_by=
AZROUTE_PLUGINDIR=

# 1. pkg-config (skipped when the user set AZROUTE_CFLAGS/AZROUTE_LIBS:
#    PKG_CHECK_MODULES would take them as they are without checking).
m4_ifdef([PKG_CHECK_MODULES],
[AS_IF([test "x${AZROUTE_CFLAGS+set}${AZROUTE_LIBS+set}" = x],
  [PKG_CHECK_MODULES([AZROUTE], [azroute >= $azroute_min_version],
    [azroute_found=yes
     azroute_found_by=pkg-config
     AZROUTE_PLUGINDIR=`$PKG_CONFIG --variable=plugindir azroute 2>/dev/null`],
    [azroute_found=no])])],
[AC_MSG_NOTICE([pkg.m4 (pkg-config) is not available to aclocal; probing for -lazroute directly])])

# 2. The plain probe.
AS_IF([test "x$azroute_found" = xno],
  [AC_MSG_NOTICE([looking for libazroute >= $azroute_min_version without pkg-config])
   azroute_save_CPPFLAGS=$CPPFLAGS
   azroute_save_LIBS=$LIBS
   azroute_save_LDFLAGS=$LDFLAGS
   CPPFLAGS="$CPPFLAGS $AZROUTE_CFLAGS"
   LDFLAGS="$LDFLAGS $AZROUTE_LIBS"
   azroute_probe=yes
   AC_CHECK_HEADER([azroute/azroute.h], [], [azroute_probe=no])
   AS_IF([test "x$azroute_probe" = xyes],
     [AC_CHECK_LIB([azroute], [azr_version], [:], [azroute_probe=no])])
   AS_IF([test "x$azroute_probe" = xyes],
     [# MAJOR.MINOR.PATCH -> AZR_VERSION_NUM's (MAJOR << 16 | MINOR << 8 | PATCH)
      azroute_save_IFS=$IFS
      IFS=.
      set dummy $azroute_min_version 0 0 0
      IFS=$azroute_save_IFS
      shift
      AS_VAR_ARITH([azroute_min_num], [$[1] \* 65536 + $[2] \* 256 + $[3]])
      AC_MSG_CHECKING([whether libazroute is at least $azroute_min_version])
      AC_COMPILE_IFELSE([AC_LANG_PROGRAM([[#include <azroute/azroute.h>
#if !defined(AZR_VERSION_NUM) || AZR_VERSION_NUM < $azroute_min_num
#error libazroute is too old
#endif
]], [[return azr_version(0) == 0;]])],
        [AC_MSG_RESULT([yes])],
        [AC_MSG_RESULT([no])
         azroute_probe=no])])
   CPPFLAGS=$azroute_save_CPPFLAGS
   LIBS=$azroute_save_LIBS
   LDFLAGS=$azroute_save_LDFLAGS
   AS_IF([test "x$azroute_probe" = xyes],
     [azroute_found=yes
      azroute_found_by=probe
      # Keep what the user passed; add the library itself.
      AS_CASE([" $AZROUTE_LIBS "], [*" -lazroute "*], [],
        [AZROUTE_LIBS="${AZROUTE_LIBS:+$AZROUTE_LIBS }-lazroute"])])])

AC_SUBST([AZROUTE_CFLAGS])
AC_SUBST([AZROUTE_LIBS])
AC_SUBST([AZROUTE_PLUGINDIR])
AS_IF([test "x$azroute_found" = xyes],
  [AC_MSG_NOTICE([using libazroute (found by $azroute_found_by): AZROUTE_CFLAGS=$AZROUTE_CFLAGS AZROUTE_LIBS=$AZROUTE_LIBS])
   m4_default([$2], [:])],
  [m4_default([$3],
    [AC_MSG_ERROR([libazroute >= $azroute_min_version not found: neither pkg-config (azroute.pc; set PKG_CONFIG_PATH) nor a plain -lazroute probe (set CPPFLAGS=-I<prefix>/include LDFLAGS=-L<prefix>/lib, or AZROUTE_CFLAGS/AZROUTE_LIBS) found it])])])
])# AZROUTE_CHECK
