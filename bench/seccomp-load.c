// The kernel's cost of loading a compiled seccomp filter, alone: forks N times,
// each child loading the program (LOAD=1) or not (LOAD=0), and prints the time per
// fork. The program is berth's cached BPF (raw sock_filter instructions), e.g.
//   gcc -O2 -o /tmp/seccomp-load bench/seccomp-load.c
//   /tmp/seccomp-load $BERTH_RUNROOT/runtime/seccomp-bpf/*.bpf 300 1
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <time.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec*1e3+t.tv_nsec/1e6;}
int main(int argc,char**argv){
  FILE*f=fopen(argv[1],"rb"); static struct sock_filter ins[65536]; size_t n=fread(ins,8,65536,f);
  struct sock_fprog prog={.len=n,.filter=ins}; int iters=atoi(argv[2]); int load=atoi(argv[3]);
  double t0=now();
  for(int i=0;i<iters;i++){ pid_t p=fork(); if(!p){ if(load){prctl(PR_SET_NO_NEW_PRIVS,1,0,0,0); if(syscall(SYS_seccomp,SECCOMP_SET_MODE_FILTER,0,&prog)){perror("seccomp");_exit(1);} } _exit(0);} int st; waitpid(p,&st,0); if(st){fprintf(stderr,"child failed\n");return 1;} }
  printf("%zu insns, load=%d: %.3f ms per fork\n", n, load, (now()-t0)/iters);
}
