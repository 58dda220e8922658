/* xcore_read.c — what reading (or overwriting) lines that the other core
 * wrote costs, against lines this core wrote (issue 24, session 17: the
 * Winograd one-block run shares V between the threads). Thread 0 on cpu 0
 * times a pass over a 256 KB - 4 MB buffer (512-bit loads / stores) after
 * itself or thread 1 (cpu 1) wrote it; medians of 60. Not in `make all`:
 *   cc -O2 -mavx512f -pthread -o build/xcore-read bench/xcore_read.c
 *   flock /work/notes/bench.lock build/xcore-read */
#define _GNU_SOURCE
#include <immintrin.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static long now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec*1000000000L+t.tv_nsec;}
static float *buf; static size_t nf; static atomic_int phase; static int writer_cpu=1;
/* a failed pin / thread / buffer would time something else: stop instead */
static void die(const char *what){fprintf(stderr,"xcore-read: %s failed\n",what);exit(1);}
static void pin(int c){cpu_set_t s;CPU_ZERO(&s);CPU_SET(c,&s);if(sched_setaffinity(0,sizeof s,&s))die("sched_setaffinity (needs cpus 0 and 1)");}
static void wr(float v){__m512 x=_mm512_set1_ps(v);for(size_t i=0;i<nf;i+=16)_mm512_store_ps(buf+i,x);}
static float rd(void){__m512 a=_mm512_setzero_ps(),b=a;for(size_t i=0;i<nf;i+=32){a=_mm512_add_ps(a,_mm512_load_ps(buf+i));b=_mm512_add_ps(b,_mm512_load_ps(buf+i+16));}return _mm512_reduce_add_ps(_mm512_add_ps(a,b));}
static void *other(void*v){(void)v;pin(writer_cpu);for(;;){int p;while((p=atomic_load(&phase))==0);if(p<0)break;wr((float)p);atomic_store(&phase,0);}return NULL;}
static int cmpl(const void*a,const void*b){long x=*(long*)a,y=*(long*)b;return x<y?-1:x>y;}
int main(void){
  pin(0); pthread_t th; if(pthread_create(&th,NULL,other,NULL))die("pthread_create");
  size_t sizes[]={256<<10,1<<20,2<<20,4<<20};
  for(int si=0;si<4;si++){nf=sizes[si]/4;buf=aligned_alloc(64,sizes[si]);if(!buf)die("aligned_alloc");memset(buf,0,sizes[si]);
    long tl[60],tr[60],tw[60],twl[60]; float s=0;
    for(int k=0;k<60;k++){
      wr(1); long t0=now(); s+=rd(); tl[k]=now()-t0;             /* local write, local read */
      atomic_store(&phase,2); while(atomic_load(&phase)); t0=now(); s+=rd(); tr[k]=now()-t0; /* remote write, local read */
      atomic_store(&phase,3); while(atomic_load(&phase)); t0=now(); wr(4); tw[k]=now()-t0; /* remote write, local overwrite */
      wr(5); t0=now(); wr(6); twl[k]=now()-t0;                   /* local write, local overwrite */
    }
    qsort(tl,60,8,cmpl);qsort(tr,60,8,cmpl);qsort(tw,60,8,cmpl);qsort(twl,60,8,cmpl);
    double mb=sizes[si]/1e6;
    printf("%5zu KB: read own %.1f GB/s, read other core's %.1f GB/s; overwrite own %.1f GB/s, overwrite other's %.1f GB/s (medians; %g)\n",
      sizes[si]>>10, mb/(tl[30]*1e-9)/1e3, mb/(tr[30]*1e-9)/1e3, mb/(twl[30]*1e-9)/1e3, mb/(tw[30]*1e-9)/1e3, (double)s*0);
    free(buf);}
  atomic_store(&phase,-1); pthread_join(th,NULL); return 0;}
