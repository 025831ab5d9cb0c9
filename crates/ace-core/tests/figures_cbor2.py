import cbor2, base64
def b64(s):
    s=s.replace('+','-').replace('/','_').rstrip('=')
    return base64.urlsafe_b64decode(s+'='*(-len(s)%4))
figs = {
 'fig2_3': {1:"coaps://as.example.com/token",5:"coaps://rs.example.com",9:"rTempC",39:bytes.fromhex('e0a156bb3f')},
 'fig4': {24:"myclient",5:"tempSensor4711"},
 'fig5': {24:"myclient",4:{1:{1:2,2:b'\x11',-1:1,-2:b64('usWxHK2PmfnHKwXPS54m0kTcGJ90UiglWiGahtagnv8'),-3:b64('IBOL+C3BttVivg+lSreASjpkttcsz+1rb7btKLv8EX4')}}},
 'fig6': {24:"myclient",5:"valve424",9:"read",4:{3:b64('6kg0dXJM13U')}},
 'fig7_verbatim': {1:b64('SlAV32hk'),38:"coap_dtls",2:3600,8:{1:{1:4,2:b64('39Gqlw'),-1:b64('hJtXhkV8FJG+Onbc6mxC')}}},
 'fig7_int': {1:b64('SlAV32hk'),38:1,2:3600,8:{1:{1:4,2:b64('39Gqlw'),-1:b64('hJtXhkV8FJG+Onbc6mxC')}}},
 'fig9': {11:b64('7gj0dXJQ43U'),33:2},
 'fig10': {10:True,9:"read",38:1,8:{1:{1:4,2:b64('39Gqlw'),-1:b64('hJtXhkV8FJG+Onbc6mxC')}}},
 'fig12_req': {5:"tempSensorInLivingRoom",24:"myclient",4:{1:{2:b64('1Bg8vub9tLe1gHMzV76e'),1:2,-1:1,-2:b64('f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU'),-3:b64('x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0')}}},
 'fig12_resp': {1:b64('0INDoQEKoQVNKkXfb7xaWqMT'),41:{1:{2:b64('c29tZSBwdWJsaWMga2V5IGlk'),1:2,-1:1,-2:b64('MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4'),-3:b64('4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM')}}},
 'fig13': {3:"tempSensorInLivingRoom",6:1563451500,4:1563453000,9:"temperature_g firmware_p",8:{1:{2:b64('1Bg8vub9tLe1gHMzV76e'),1:2,-1:1,-2:b64('f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU'),-3:b64('x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0')}}},
 'fig17_req': {24:"keyfob",5:"PACS1337"},
 'fig17_resp': {1:b64('VGVzdCB0b2tlbg=='),8:{1:{2:b64('c29tZSBwdWJsaWMga2V5IGlk'),1:4,-1:b64('ZoRSOrFzN_FzUA5XKMYoVHyzff5oRJxl-IXRtztJ6uE')}}},
 'fig19_req': {11:b64('VGVzdCB0b2tlbg=='),24:"FrontDoor"},
 'fig19_resp': {10:True,3:"lockOfDoor4711",9:"open close",6:1563454000,8:{3:b64('c29tZSBwdWJsaWMga2V5IGlk')}},
}
for k,v in figs.items():
    print(k, cbor2.dumps(v).hex(), cbor2.dumps(v, canonical=True).hex())
# P-256 checks
p=2**256-2**224+2**192+2**96-1; b=0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b
for x,y in [('usWxHK2PmfnHKwXPS54m0kTcGJ90UiglWiGahtagnv8','IBOL+C3BttVivg+lSreASjpkttcsz+1rb7btKLv8EX4'),('f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU','x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0'),('MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4','4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM')]:
    X=int.from_bytes(b64(x),'big'); Y=int.from_bytes(b64(y),'big')
    print('on curve', (Y*Y - (X**3-3*X+b))%p==0, len(b64(x)), len(b64(y)))
print(len(b64('hJtXhkV8FJG+Onbc6mxC')), b64('VGVzdCB0b2tlbg=='))
