# Sourced by the benchmark scripts of this folder: `median` prints the median of the
# numbers on its standard input, one a line.
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
