use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};
fn med(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let port: u16 = a[1].parse().unwrap();
    let pid: u32 = a[2].parse().unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let e = gw_portguard::Expected::new(pid);
    let o = gw_portguard::Options::default();
    let (mut v1, mut v2, mut v3) = (vec![], vec![], vec![]);
    let n: usize = std::env::var("N").ok().and_then(|v| v.parse().ok()).unwrap_or(300);
    for _ in 0..n {
        let t = Instant::now();
        assert!(gw_portguard::verify(port, &e, &o).is_owned());
        v1.push(t.elapsed());
        let t = Instant::now();
        let s = gw_portguard::connect_verified(addr, &e, &o).unwrap();
        v2.push(t.elapsed());
        drop(s);
        let t = Instant::now();
        let s = TcpStream::connect(addr).unwrap();
        v3.push(t.elapsed());
        drop(s);
    }
    println!("verify {:?} connect_verified {:?} bare connect {:?}", med(v1), med(v2), med(v3));
}
