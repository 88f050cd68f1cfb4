/// The byte order of an X client, as declared in its connection setup (`'l'` or `'B'`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ByteOrder {
    /// `'l'`: least significant byte first.
    LsbFirst,
    /// `'B'`: most significant byte first.
    MsbFirst,
}

impl ByteOrder {
    /// The order of the machine this code runs on.
    pub const fn native() -> Self {
        if cfg!(target_endian = "little") {
            Self::LsbFirst
        } else {
            Self::MsbFirst
        }
    }

    /// The order of a client the server marks as "swapped" (its order differs from the server's).
    pub const fn for_client(swapped: bool) -> Self {
        match (Self::native(), swapped) {
            (order, false) => order,
            (Self::LsbFirst, true) => Self::MsbFirst,
            (Self::MsbFirst, true) => Self::LsbFirst,
        }
    }

    pub fn read_u16(self, bytes: [u8; 2]) -> u16 {
        match self {
            Self::LsbFirst => u16::from_le_bytes(bytes),
            Self::MsbFirst => u16::from_be_bytes(bytes),
        }
    }

    pub fn read_u32(self, bytes: [u8; 4]) -> u32 {
        match self {
            Self::LsbFirst => u32::from_le_bytes(bytes),
            Self::MsbFirst => u32::from_be_bytes(bytes),
        }
    }

    pub fn u16_bytes(self, value: u16) -> [u8; 2] {
        match self {
            Self::LsbFirst => value.to_le_bytes(),
            Self::MsbFirst => value.to_be_bytes(),
        }
    }

    pub fn u32_bytes(self, value: u32) -> [u8; 4] {
        match self {
            Self::LsbFirst => value.to_le_bytes(),
            Self::MsbFirst => value.to_be_bytes(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swapped_clients_use_the_other_order() {
        assert_eq!(ByteOrder::for_client(false), ByteOrder::native());
        assert_ne!(ByteOrder::for_client(true), ByteOrder::native());
    }

    #[test]
    fn round_trips_both_orders() {
        for order in [ByteOrder::LsbFirst, ByteOrder::MsbFirst] {
            assert_eq!(order.read_u16(order.u16_bytes(0xabcd)), 0xabcd);
            assert_eq!(order.read_u32(order.u32_bytes(0x0102_0304)), 0x0102_0304);
        }
        assert_eq!(ByteOrder::MsbFirst.u32_bytes(1), [0, 0, 0, 1]);
        assert_eq!(ByteOrder::LsbFirst.u32_bytes(1), [1, 0, 0, 0]);
    }
}
